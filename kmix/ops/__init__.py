"""kmix.ops: pure functions on tensors (no state, XLA-compilable)."""

from kmix.ops.attention import progressive_attention_lambda
from kmix.ops.attention import tl_align_lambda
from kmix.ops.attention import transmix_lambda
from kmix.ops.counter_random import hashed_uniform
from kmix.ops.fourier import fourier_masks
from kmix.ops.grid import grid_to_pixel_mask
from kmix.ops.grid import grid_to_token_mask
from kmix.ops.grid import sample_grid_cells
from kmix.ops.guided_pairing import greedy_pairing
from kmix.ops.label_distance import c_mixup_probabilities
from kmix.ops.label_distance import label_distance_logits
from kmix.ops.label_distance import sample_c_mixup_partners
from kmix.ops.label_distance import standardize_labels
from kmix.ops.masks import box_from_center
from kmix.ops.masks import box_mask
from kmix.ops.masks import cutmix_boxes
from kmix.ops.mixing import lam_from_mask
from kmix.ops.mixing import mix_images
from kmix.ops.mixing import mix_labels
from kmix.ops.mixing import one_hot_labels
from kmix.ops.sampling import sample_beta
from kmix.ops.sampling import sample_partner_index
from kmix.ops.spectral_residual import spectral_residual_saliency
from kmix.ops.resize import resized_partner
from kmix.ops.sinkhorn import align_mix
from kmix.ops.sinkhorn import sinkhorn_plan
from kmix.ops.tokens import token_mask
from kmix.ops.token_masks import block_token_masks
from kmix.ops.token_masks import random_token_masks
from kmix.ops.teacher_targets import tokenmix_targets
from kmix.ops.windows import patch_attention
from kmix.ops.windows import region_mean
from kmix.ops.windows import window_scores

__all__ = [
    "block_token_masks",
    "patch_attention",
    "random_token_masks",
    "region_mean",
    "tokenmix_targets",
    "window_scores",
    "box_from_center",
    "c_mixup_probabilities",
    "label_distance_logits",
    "sample_c_mixup_partners",
    "standardize_labels",
    "box_mask",
    "cutmix_boxes",
    "fourier_masks",
    "grid_to_pixel_mask",
    "grid_to_token_mask",
    "greedy_pairing",
    "hashed_uniform",
    "lam_from_mask",
    "mix_images",
    "mix_labels",
    "one_hot_labels",
    "progressive_attention_lambda",
    "resized_partner",
    "sample_beta",
    "sample_grid_cells",
    "sample_partner_index",
    "spectral_residual_saliency",
    "align_mix",
    "sinkhorn_plan",
    "tl_align_lambda",
    "token_mask",
    "transmix_lambda",
]
