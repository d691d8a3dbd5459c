"""Models that mix inside their training step."""

from kmix.models.attention_tap import AttentionTap
from kmix.models.attention_tap import attention_tap
from kmix.models.mixing_mixin import MixingMixin
from kmix.models.mixing_model import MixingModel
from kmix.models.step_strategy import StepStrategy
from kmix.models.vit import ViT

__all__ = ["AttentionTap", "attention_tap", "MixingMixin", "MixingModel", "StepStrategy", "ViT"]
