"""Mixing losses: Keras `Loss` classes and per-sample functions."""

from kmix.losses.decoupled_mixup_loss import DecoupledMixupLoss
from kmix.losses.decoupled_mixup_loss import decoupled_mixup
from kmix.losses.lu_mix_loss import LUMixLoss
from kmix.losses.mix_kd_loss import MixKDLoss
from kmix.losses.mix_kd_loss import mix_kd_terms
from kmix.losses.mixing_loss import MixingLoss
from kmix.losses.mixup_crossentropy import MixupCrossentropy
from kmix.losses.rank_mixup_loss import RankMixupLoss
from kmix.losses.rank_mixup_loss import rank_mixup_mndcg
from kmix.losses.rank_mixup_loss import rank_mixup_mrl
from kmix.losses.smmix_loss import SMMixLoss
from kmix.losses.smmix_loss import smmix_loss_terms

__all__ = [
    "DecoupledMixupLoss",
    "LUMixLoss",
    "MixKDLoss",
    "MixingLoss",
    "MixupCrossentropy",
    "RankMixupLoss",
    "SMMixLoss",
    "decoupled_mixup",
    "mix_kd_terms",
    "rank_mixup_mndcg",
    "rank_mixup_mrl",
    "smmix_loss_terms",
]
