"""Models that mix inside their training step."""

from kmix.models.mixing_mixin import MixingMixin
from kmix.models.mixing_model import MixingModel
from kmix.models.vit import ViT

__all__ = ["MixingMixin", "MixingModel", "ViT"]
