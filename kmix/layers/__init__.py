"""Mixing layers: safe in tf.data, in keras.Sequential and under XLA."""

from kmix.layers.align_mix import AlignMix
from kmix.layers.attention_label_layer import AttentionLabelLayer
from kmix.layers.attentive_mix import AttentiveMix
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.layers.c_mixup_partner import CMixupPartner
from kmix.layers.cut_mix import CutMix
from kmix.layers.fmix import FMix
from kmix.layers.grid_mix import GridMix
from kmix.layers.guided_mixup import GuidedMixup
from kmix.layers.manifold_mixup import ManifoldMixup
from kmix.layers.mask_mix import MaskMix
from kmix.layers.mix_kd_mix import MixKDMix
from kmix.layers.mix_up import MixUp
from kmix.layers.mixing_point import MixingPoint
from kmix.layers.mosaic import Mosaic
from kmix.layers.progressive_attention_labels import ProgressiveAttentionLabels
from kmix.layers.random_mix_choice import RandomMixChoice
from kmix.layers.resize_mix import ResizeMix
from kmix.layers.saliency_mix import SaliencyMix
from kmix.layers.smooth_mix import SmoothMix
from kmix.layers.snap_mix import SnapMix
from kmix.layers.token_label_alignment import TokenLabelAlignment
from kmix.layers.transmix_labels import TransMixLabels
from kmix.layers.smmix import SMMix
from kmix.layers.token_mix import TokenMix

__all__ = [
    "AlignMix",
    "AttentionLabelLayer",
    "AttentiveMix",
    "BaseMixLayer",
    "CMixupPartner",
    "CutMix",
    "FMix",
    "GridMix",
    "GuidedMixup",
    "ManifoldMixup",
    "MaskMix",
    "MixingPoint",
    "Mosaic",
    "MixKDMix",
    "MixUp",
    "ProgressiveAttentionLabels",
    "RandomMixChoice",
    "ResizeMix",
    "SaliencyMix",
    "SmoothMix",
    "SnapMix",
    "TokenLabelAlignment",
    "TransMixLabels",
    "SMMix",
    "TokenMix",
]
