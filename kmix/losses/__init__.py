"""Mixing losses: Keras `Loss` classes and per-sample functions."""

from kmix.losses.mixing_loss import MixingLoss
from kmix.losses.mixup_crossentropy import MixupCrossentropy

__all__ = ["MixingLoss", "MixupCrossentropy"]
