"""ResizeMix."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.config import fused_kernels_enabled
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.kernels import blend_values
from kmix.ops.masks import box_mask
from kmix.ops.resize import INTERPOLATIONS
from kmix.ops.resize import boxes_from_mask
from kmix.ops.resize import resized_partner
from kmix.ops.resize import sample_resize_boxes
from kmix.ops.seeds import split_seed
from kmix.ops.validation import is_real_scalar
from kmix.ops.validation import check_one_of


def _paste_view(images, index, mask, interpolation, data_format):
    # The box is read back from the mask, so a plan alone defines the paste.
    axes = (2, 3) if data_format == "channels_first" else (1, 2)
    shape = tf.shape(images)
    mask = tf.broadcast_to(
        tf.cast(mask, tf.float32), tf.stack([shape[0], shape[axes[0]], shape[axes[1]], 1])
    )
    boxes = boxes_from_mask(mask)
    return resized_partner(images, index, boxes, interpolation, data_format)


# Compiled like the apply kernels: the coordinate gather is faster under XLA on
# CPU (`kmix.config.set_fused_kernels(False)` turns it off). One function per
# rank (images, or (B, H, W) class-id masks): relaxed retracing may forget sizes,
# not the rank.
_PASTE_VIEW_XLA = {
    rank: tf.function(_paste_view, jit_compile=True, reduce_retracing=True, autograph=False) for rank in (3, 4)
}
# The box mask's compares, cast and write fuse into one pass.
_BOX_MASK_XLA = tf.function(box_mask, jit_compile=True, reduce_retracing=True, autograph=False)


def _paste_blend(images, index, mask, interpolation, data_format, out_dtype):
    """The mixed images in one pass: the resized partner read and selected where the mask pastes it."""
    partner = _paste_view(images, index, mask, interpolation, data_format)
    return blend_values(images, partner, mask, out_dtype, data_format == "channels_first", binary=True)


# The paste view and the blend as one kernel: the partner view is never written out.
_PASTE_BLEND_XLA = tf.function(_paste_blend, jit_compile=True, reduce_retracing=True, autograph=False)


@kmix_export("kmix.layers.ResizeMix")
class ResizeMix(BaseMixLayer):
    """Pastes the whole partner image, shrunk, into a box; labels mix by the box area.

    Unlike CutMix, the pasted content is the entire partner image resized to
    the box (not a crop of it), so the partner's object is kept. The box side
    ratio is `tau ~ U(scope)` (openmixup's original setting), or with
    `use_alpha=True` `tau ~ Beta(alpha, alpha)`, redrawn from `U(scope)` when
    outside the scope. The box is `floor(tau * W) x floor(tau * H)` with a
    centre uniform over the image, clipped at the border (clovaai `rand_bbox`
    style), and the partner is resized to the clipped box with PyTorch's
    nearest rule (`F.interpolate(mode="nearest")`) or bilinear
    (`align_corners=False`). The label weight is the fraction of pixels each
    image keeps, `1 - box_area / (H * W)`, measured on the mask.

    Shapes stay static (XLA, `tf.data`): the paste is one coordinate gather
    for the whole batch, and it reads the box from the plan's mask, so
    `layer.mix_images(images, plan)` needs nothing but the plan.

    Differences from openmixup's `resizemix` (deliberate):
        - openmixup's `rand_bbox_tao` reads `W` from the height axis and `H`
          from the width axis; kmix uses the right axes (same result for
          square images).
        - A box that would be empty (`floor(tau * side) < 2` on small images)
          leaves the row unmixed (lam = 1) where PyTorch's interpolate fails.
        - `lam_scope="sample"` draws one scale and one box per row (openmixup:
          one per batch, kmix's default `lam_scope="batch"`).

    **Note:** safe inside a `tf.data` pipeline, inside `keras.Sequential` (the
    plan reaches `kmix.losses.MixupCrossentropy`) and under `jit_compile=True`.
    Segmentation masks are pasted the same way with nearest interpolation and
    keep their dtype.

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration of `tau`, used only
            with `use_alpha=True`. Defaults to `1.0`.
        scope: pair `(lo, hi)` with `0 < lo <= hi <= 1`: the range of the box
            side ratio `tau`. Defaults to `(0.1, 0.8)`.
        use_alpha: bool. Draw `tau` from Beta(alpha, alpha) (falling back to
            `U(scope)` outside the scope) instead of `U(scope)`. Defaults to
            `False`.
        interpolation: `"nearest"` (default, as the official code) or
            `"bilinear"`, how the partner is resized for images.
        bounding_box_format: optional str, one of Keras's box formats
            (`"xyxy"`, `"yxyx"`, `"xywh"`, `"center_xywh"`, `"center_yxhw"` and
            their `"rel_"` forms). Needed only when a dict brings
            `"bounding_boxes"`.
        min_visibility: float in [0, 1]. A box is kept when at least this share
            of its pixels shows in the mixed image (own boxes outside the
            pasted region, the partner's inside it), then clipped to the pixels
            that show. Defaults to `0.1`, the share Ultralytics' CutMix keeps
            partner boxes at (`ultralytics/data/augment.py`).
        num_classes: int or `None`. Needed when labels are class ids.
        label_smoothing: float in [0, 1). Defaults to `0.0`.
        lam_scope: `"batch"` (one scale and one box for the batch, as the
            official code) or `"sample"` (per row).
        partner: `"permute"` (random derangement), `"flip"` or `"roll"`.
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: base layer arguments (`name`, `dtype`).

    Call arguments:
        data: a dict with `"images"` and optional `"labels"`,
            `"segmentation_masks"`, `"bounding_boxes"` (`{"boxes", "labels"}`,
            padded with -1 or ragged; needs `bounding_box_format`; other keys
            pass through); a tuple
            `(images, labels)`; or images alone.
        labels: labels as a second positional argument.
        training: bool. With `False` the input is returned unchanged.

    Returns:
        The same structure with mixed images and float32 `(B, K)` labels.

    Raises:
        ValueError: `scope` out of range or `interpolation` unknown.
        TypeError: `scope` not a pair of numbers, or `use_alpha` not a bool.

    Example:

    ```python
    import numpy as np
    import kmix

    images = np.random.rand(8, 32, 32, 3).astype("float32")
    layer = kmix.layers.ResizeMix(num_classes=10, seed=0)
    out = layer({"images": images, "labels": np.arange(8)})
    print(out["images"].shape, out["labels"].shape)  # (8, 32, 32, 3) (8, 10)
    plan = layer.sample_plan(images)
    print(layer.mix_images(images, plan).shape)  # (8, 32, 32, 3)
    ```

    References:
        - [Qin et al., 2020](https://arxiv.org/abs/2012.11101)
        - [openmixup `resizemix.py`](https://github.com/Westlake-AI/openmixup)
    """

    # Boxes follow the mask: own boxes where they stay seen, the partner's where
    # they show (`kmix.ops.boxes.boxes_through_mask`).
    mixes_bounding_boxes = True

    def __init__(
        self,
        alpha=1.0,
        scope=(0.1, 0.8),
        use_alpha=False,
        interpolation="nearest",
        bounding_box_format=None,
        min_visibility=0.1,
        **kwargs,
    ):
        if (
            not isinstance(scope, (tuple, list))
            or len(scope) != 2
            or not all(is_real_scalar(v) for v in scope)
        ):
            raise TypeError(
                "`scope` must be a pair (lo, hi) of floats with 0 < lo <= hi <= 1. "
                f"Received: scope={scope!r}"
            )
        scope = (float(scope[0]), float(scope[1]))
        if not 0.0 < scope[0] <= scope[1] <= 1.0:
            raise ValueError(
                "`scope` must be a pair (lo, hi) of floats with 0 < lo <= hi <= 1. "
                f"Received: scope={scope}"
            )
        if not isinstance(use_alpha, bool):
            raise TypeError(
                f"`use_alpha` must be a bool. Received: use_alpha={use_alpha!r}"
            )
        check_one_of(interpolation, "interpolation", INTERPOLATIONS)
        super().__init__(alpha=alpha, **kwargs)
        self._init_box_arguments(bounding_box_format, min_visibility)
        self.scope = scope
        self.use_alpha = use_alpha
        self.interpolation = interpolation

    def _sample_scale(self, count, seed):
        """`count` box side ratios `tau`, float32 `(count,)`."""
        seed_uniform, seed_beta = split_seed(seed, 2)
        lo, hi = self.scope
        uniform = tf.random.stateless_uniform(
            tf.reshape(count, [1]), seed_uniform, minval=lo, maxval=hi
        )
        if not self.use_alpha:
            return uniform
        tau = self._sample_ratios(count, seed_beta)
        return tf.where((tau >= lo) & (tau <= hi), tau, uniform)

    def sample_mask(self, batch_size, height, width, seed):
        seed_tau, seed_box = split_seed(seed, 2)
        tau = self._sample_scale(self._scope_size(batch_size), seed_tau)
        boxes = sample_resize_boxes(tau, height, width, seed_box)
        boxes = self._broadcast_scope(boxes, batch_size)
        return (_BOX_MASK_XLA if fused_kernels_enabled() else box_mask)(boxes, height, width)

    def _apply_images(self, images, plan, out_dtype):
        if images.shape.rank != 4 or not fused_kernels_enabled():
            return super()._apply_images(images, plan, out_dtype)
        return _PASTE_BLEND_XLA(
            images, plan.index, plan.mask, self.interpolation, self.data_format, out_dtype
        )

    def partner_images(self, images, plan, nearest=False):
        data_format = self.data_format if images.shape.rank == 4 else "channels_last"
        interpolation = "nearest" if nearest else self.interpolation
        fn = _paste_view
        if fused_kernels_enabled():
            fn = _PASTE_VIEW_XLA.get(images.shape.rank, _paste_view)
        return fn(images, plan.index, plan.mask, interpolation, data_format)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "scope": self.scope,
                "use_alpha": self.use_alpha,
                "interpolation": self.interpolation,
            }
        )
        config.update(self._box_config())
        return config

    def mix_bounding_boxes(self, bounding_boxes, plan, image_size=None):
        """Own boxes where they stay visible, then the partner's, shrunk into the pasted box.

        The partner is pasted whole, so its boxes are scaled into the box the
        plan's mask pastes (read back from the mask, as the images are), then
        kept and clipped like every box: at least `min_visibility` of the box's
        pixels must show (`kmix.ops.boxes.boxes_through_mask`). `(B, N, 4)`
        boxes become `(B, 2N, 4)`, a dropped box a -1 row (removed when ragged).
        """
        return self._boxes_through_mask(
            bounding_boxes, plan, image_size, paste_boxes=boxes_from_mask(plan.mask)
        )
