"""CutMix."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.masks import box_mask
from kmix.ops.masks import cutmix_boxes
from kmix.ops.seeds import split_seed
from kmix.ops.validation import check_image_grid
from kmix.ops.validation import check_int
from kmix.ops.validation import is_real_scalar


@kmix_export("kmix.layers.CutMix")
class CutMix(BaseMixLayer):
    """Pastes a box of a partner image; labels mix by the measured pasted area.

    Boxes follow timm: side ratio `sqrt(1 - lam)` with `lam ~ Beta(alpha, alpha)`,
    a centre uniform over the image, and the box clipped at the border. The
    label weight is the fraction of pixels each image keeps, measured on the
    mask that was pasted, so it stays exact when the box is clipped (KerasCV
    uses the unclipped area, Keras core the continuous one).

    **Note:** safe inside a `tf.data` pipeline, inside `keras.Sequential` (the
    plan reaches `kmix.losses.MixupCrossentropy`) and under `jit_compile=True`.

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration. Defaults to `1.0`.
        minmax: optional `(lo, hi)` with `0 <= lo < hi <= 1`: timm's Darknet-style
            boxes with height and width drawn independently between `lo` and
            `hi` of the side, always inside the image (`alpha` then unused).
        patch_size: optional int. Snap boxes to a grid of `patch_size` pixel
            patches (token-aligned CutMix, as TL-Align): the box rules run on the
            patch grid. Image sides must be multiples of it.
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
        lam_scope: `"batch"` (one ratio and one box for the batch, as timm's
            default mode) or `"sample"` (a ratio and a box per row).
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

    Example:

    ```python
    import numpy as np
    import kmix

    images = np.random.rand(8, 32, 32, 3).astype("float32")
    out = kmix.layers.CutMix(num_classes=10, seed=0)(
        {"images": images, "labels": np.arange(8)})
    print(out["images"].shape, out["labels"].shape)  # (8, 32, 32, 3) (8, 10)
    ```

    References:
        - [Yun et al., 2019](https://arxiv.org/abs/1905.04899)
    """

    # Boxes follow the mask: own boxes where they stay seen, the partner's where
    # they show (BaseMixLayer.mix_bounding_boxes).
    mixes_bounding_boxes = True

    def __init__(
        self,
        alpha=1.0,
        minmax=None,
        patch_size=None,
        bounding_box_format=None,
        min_visibility=0.1,
        **kwargs,
    ):
        super().__init__(alpha=alpha, **kwargs)
        self._init_box_arguments(bounding_box_format, min_visibility)
        if minmax is not None:
            minmax = tuple(minmax)
            if (
                len(minmax) != 2
                or not all(is_real_scalar(v) for v in minmax)
                or not 0.0 <= minmax[0] < minmax[1] <= 1.0
            ):
                raise ValueError(
                    "`minmax` must be a pair (lo, hi) with 0 <= lo < hi <= 1. "
                    f"Received: minmax={minmax}"
                )
            minmax = (float(minmax[0]), float(minmax[1]))
        patch_size = check_int(patch_size, "patch_size", minimum=1, allow_none=True)
        self.minmax = minmax
        self.patch_size = patch_size

    def check_image_size(self, height, width):
        if (self.patch_size or 1) > 1:
            check_image_grid(
                height, width, "CutMix with `patch_size`", self.patch_size,
                "With `patch_size` the image height and width must be multiples of it",
            )

    def sample_mask(self, batch_size, height, width, seed):
        grid = self.patch_size or 1
        seed_lam, seed_box = split_seed(seed, 2)
        lam = self._sample_ratios(self._scope_size(batch_size), seed_lam)
        boxes = cutmix_boxes(lam, height, width, seed_box, self.minmax, grid)
        boxes = self._broadcast_scope(boxes, batch_size)
        # A batch of one is left unmixed (the base class sets its mask to 1).
        boxes = tf.where(batch_size < 2, tf.zeros_like(boxes), boxes)
        # The plan carries the boxes too: the apply kernel pastes from them.
        return box_mask(boxes, height, width), {"boxes": tf.cast(boxes, tf.int32)}

    def get_config(self):
        config = super().get_config()
        config.update({"minmax": self.minmax, "patch_size": self.patch_size})
        config.update(self._box_config())
        return config
