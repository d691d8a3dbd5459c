"""kmix.ops: pure functions on tensors (no state, XLA-compilable)."""

from kmix.ops.masks import box_from_center
from kmix.ops.masks import box_mask
from kmix.ops.masks import cutmix_boxes
from kmix.ops.mixing import lam_from_mask
from kmix.ops.mixing import mix_images
from kmix.ops.mixing import mix_labels
from kmix.ops.mixing import one_hot_labels
from kmix.ops.sampling import sample_beta
from kmix.ops.sampling import sample_partner_index
from kmix.ops.tokens import token_mask

__all__ = [
    "box_from_center",
    "box_mask",
    "cutmix_boxes",
    "lam_from_mask",
    "mix_images",
    "mix_labels",
    "one_hot_labels",
    "sample_beta",
    "sample_partner_index",
    "token_mask",
]
