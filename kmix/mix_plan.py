"""The mixing plan: the only random object of a mixed batch."""

from typing import NamedTuple
from typing import Optional

import tensorflow as tf


class MixPlan(NamedTuple):
    """What a mixer decided for one batch: partners, pixel weights, label weights.

    Every kmix mixer draws one `MixPlan` per batch; images, labels, segmentation
    masks, attention-guided labels and the mixing losses are all deterministic
    functions of it ("sample once, apply many").

    A mixed image is `mask * images + (1 - mask) * take(images, index)` and a
    mixed label is `lam * labels + (1 - lam) * take(labels, index)`.

    The optional fields carry what some mixers need, beyond the mask, to
    apply a plan again (`layer.mix_images(images, layer.sample_plan(images))`
    does exactly what `layer(images)` does); every other mixer leaves them
    `None`, and a plan built by hand needs none of them.

    Attributes:
        index: int32 tensor `(B,)`. Row `i` is mixed with row `index[i]`.
        mask: float32 tensor `(B, H, W, 1)`, or `(B, 1, 1, 1)` for a blend such as
            MixUp: the weight of each row's OWN pixels, in `[0, 1]`.
        lam: float32 tensor `(B,)`: the weight of each row's own label. For plans
            sampled by kmix mixers it is exactly the spatial mean of `mask`.
        boxes: optional int32 tensor `(B, 4)`, `(y_low, y_high, x_low, x_high)`
            (half-open): the pasted box of each row when the mask is one box
            (CutMix), which lets the apply kernel paste without reading the
            mask. It must describe the same box as `mask`.
        shift: optional int32 tensor `(B, 2)`, `(dy, dx)` in pixels: the
            partner is translated by it before pasting (SMMix moves the
            partner's window onto the row's window).
        choice: optional int32 tensor `(B,)`: which method mixed each row, for
            mixers that choose per row (`RandomMixChoice`: the index of the
            member, `len(mixers)` for "not mixed"; `SMMix`: `0` for a window
            paste, `1` for a MixUp blend).
        source_boxes: optional int32 tensor `(B, 4)`, same layout as `boxes`:
            the partner's region that is resized into `boxes` (SnapMix pastes
            one box of the partner into another box of the row).

    Example:

    ```python
    import tensorflow as tf
    import kmix

    plan = kmix.MixPlan(
        index=tf.constant([1, 0]),
        mask=tf.fill([2, 1, 1, 1], 0.75),
        lam=tf.fill([2], 0.75),
    )
    mixed = kmix.ops.mix_images(tf.ones([2, 4, 4, 3]), plan)
    print(mixed.shape)  # (2, 4, 4, 3)
    ```
    """

    index: tf.Tensor
    mask: tf.Tensor
    lam: tf.Tensor
    boxes: Optional[tf.Tensor] = None
    shift: Optional[tf.Tensor] = None
    choice: Optional[tf.Tensor] = None
    source_boxes: Optional[tf.Tensor] = None


# The fields beyond (index, mask, lam) that a mixer's `sample_mask` may fill.
PLAN_EXTRA_FIELDS = ("boxes", "shift", "choice", "source_boxes")


# NamedTuples cannot take the registration decorator's attribute assignment
# before class creation, so the public name is recorded here.
MixPlan._kmix_public_name = "kmix.MixPlan"


def identity_plan(batch_size, mask_shape=None):
    """Returns the plan that leaves a batch unchanged.

    Args:
        batch_size: int or scalar int tensor `B`.
        mask_shape: optional `(H, W)`. When given, the mask is `(B, H, W, 1)`
            ones; otherwise `(B, 1, 1, 1)` ones.

    Returns:
        A `MixPlan` with `index = arange(B)`, `mask = 1` and `lam = 1`.
    """
    index = tf.range(batch_size, dtype=tf.int32)
    if mask_shape is None:
        mask = tf.ones(tf.stack([batch_size, 1, 1, 1]), tf.float32)
    else:
        mask = tf.ones(
            tf.stack([batch_size, mask_shape[0], mask_shape[1], 1]), tf.float32
        )
    return MixPlan(index=index, mask=mask, lam=tf.ones([batch_size], tf.float32))
