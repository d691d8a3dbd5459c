"""Models that mix inside their training step."""

from kmix.models.mixing_mixin import MixingMixin
from kmix.models.mixing_model import MixingModel

__all__ = ["MixingMixin", "MixingModel"]
