"""MaskMix (MixPro)."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.config import fused_kernels_enabled
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.grid import grid_shape
from kmix.ops.grid import grid_to_pixel_mask
from kmix.ops.grid import sample_grid_cells
from kmix.ops.seeds import split_seed
from kmix.ops.validation import check_int
from kmix.ops.validation import check_image_grid


# The two gathers from cells to pixels fuse into one pass under XLA, as the
# apply kernels (`kmix.config.set_fused_kernels(False)` turns it off).
_PIXEL_MASK_XLA = tf.function(
    grid_to_pixel_mask, jit_compile=True, reduce_retracing=True, autograph=False
)


@kmix_export("kmix.layers.MaskMix")
class MaskMix(BaseMixLayer):
    """Keeps a random set of grid cells of each image; the partner fills the rest.

    MixPro's MaskMix: the image is cut into a grid of
    `ceil(H / mask_patch_size) x ceil(W / mask_patch_size)` cells; a ratio
    `r ~ Beta(alpha, alpha)` is drawn per batch and every row keeps its own
    uniformly random subset of `n = ceil(Gh * Gw * r)` cells (at least one),
    the partner showing in the others. Cell sides are multiples of the ViT
    `patch_size`, so every token comes wholly from one image (the token mask is
    `kmix.ops.token_mask(plan.mask, patch_size)`, or
    `kmix.ops.grid.grid_to_token_mask` from the cells).

    The label weight is the measured mean of the cropped pixel mask. Where the
    grid overhangs the image (`Gh * mask_patch_size > H`) this deliberately
    differs from MixPro's `lam_area = n / (Gh * Gw)`, which counts the cropped
    border cells as whole; the two agree when the image side is a multiple of
    `mask_patch_size` (e.g. 224 with 32 or 56). Other differences: images
    need not be square (`Gh != Gw` is supported); `lam_scope="sample"` draws a
    ratio per row (MixPro: one per batch, kmix's default); the partner is a
    derangement by default (MixPro's `randperm` may pair a row with itself;
    pass `partner` to change it). MixPro's Progressive Attention Labeling is a
    loss-side refinement and is not part of this layer.

    The grid must have at least 2 cells (a row always keeps one cell), so the
    defaults (`mask_patch_size=32`, `patch_size=16`, for 224x224 ImageNet
    images) refuse images of 32x32 or smaller. For CIFAR-sized 32x32 images
    with a ViT of patch 4, pass `mask_patch_size=8, patch_size=4` (a 4x4
    grid); `mask_patch_size=16, patch_size=8` gives a 2x2 grid.

    **Note:** safe inside a `tf.data` pipeline, inside `keras.Sequential` (the
    plan reaches `kmix.losses.MixupCrossentropy`) and under `jit_compile=True`.
    Image height and width must be known statically.

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration of the kept-cell
            ratio. Defaults to `1.0` (MixPro's `AUG.MASKMIX_ALPHA`).
        mask_patch_size: int, the cell side in pixels; a multiple of
            `patch_size`, smaller than the image height or width (at least 2
            cells). Defaults to `32` (for 224x224 images; use `8` with
            `patch_size=4` for 32x32 images).
        patch_size: int, the ViT patch size the cells must align with.
            Defaults to `16`.
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
        label_smoothing: float in [0, 1). Defaults to `0.0` (MixPro uses 0.1).
        lam_scope: `"batch"` (one ratio per batch, as MixPro) or `"sample"`.
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
        ValueError: `mask_patch_size` is not a multiple of `patch_size`, or a
            size is below 1; at call (or `sample_plan`) time, images on which
            the grid has fewer than 2 cells.
        TypeError: a size is not an int.

    Example:

    ```python
    import numpy as np
    import kmix

    images = np.random.rand(8, 64, 64, 3).astype("float32")
    layer = kmix.layers.MaskMix(mask_patch_size=16, patch_size=8,
                                num_classes=10, seed=0)
    mixed, labels = layer(images, np.arange(8))
    print(mixed.shape, labels.shape)  # (8, 64, 64, 3) (8, 10)
    plan = layer.sample_plan(images)
    print(kmix.ops.token_mask(plan.mask, 8).shape)  # (8, 64)
    ```

    References:
        - [Zhao et al., 2023](https://arxiv.org/abs/2304.12043) (MixPro, ICLR 2023)
        - [fistyee/MixPro `utils.MaskMix`](https://github.com/fistyee/MixPro)
    """

    # Boxes follow the mask: own boxes where they stay seen, the partner's where
    # they show (BaseMixLayer.mix_bounding_boxes).
    mixes_bounding_boxes = True

    def __init__(
        self,
        alpha=1.0,
        mask_patch_size=32,
        patch_size=16,
        bounding_box_format=None,
        min_visibility=0.1,
        **kwargs,
    ):
        mask_patch_size = check_int(mask_patch_size, "mask_patch_size", minimum=1)
        patch_size = check_int(patch_size, "patch_size", minimum=1)
        if mask_patch_size % patch_size:
            raise ValueError(
                "`mask_patch_size` must be a multiple of `patch_size` so that every "
                "cell covers whole ViT tokens. Received: "
                f"mask_patch_size={mask_patch_size} and patch_size={patch_size}"
            )
        super().__init__(alpha=alpha, **kwargs)
        self._init_box_arguments(bounding_box_format, min_visibility)
        self.mask_patch_size = mask_patch_size
        self.patch_size = patch_size

    def check_image_size(self, height, width):
        check_image_grid(height, width, "MaskMix")
        grid_h, grid_w = grid_shape(height, width, self.mask_patch_size)
        if grid_h * grid_w < 2:
            # One cell is always kept: nothing would ever be mixed.
            raise ValueError(
                "`mask_patch_size` must be smaller than the image height or width, "
                "so that the grid of ceil(H / mask_patch_size) x "
                "ceil(W / mask_patch_size) cells has at least 2 cells (a single "
                "cell is always kept, and nothing would be mixed). For 32x32 "
                "images pass e.g. mask_patch_size=8 with patch_size=4. Received: "
                f"mask_patch_size={self.mask_patch_size} and images of size "
                f"{height}x{width} (a {grid_h}x{grid_w} grid)"
            )

    def sample_mask(self, batch_size, height, width, seed):
        seed_ratio, seed_cells = split_seed(seed, 2)
        ratio = self._sample_ratios(self._scope_size(batch_size), seed_ratio)
        ratio = self._broadcast_scope(ratio, batch_size)
        grid_h, grid_w = grid_shape(height, width, self.mask_patch_size)
        cells = sample_grid_cells(ratio, grid_h, grid_w, seed_cells)
        pixel_mask = _PIXEL_MASK_XLA if fused_kernels_enabled() else grid_to_pixel_mask
        return pixel_mask(cells, self.mask_patch_size, height, width)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"mask_patch_size": self.mask_patch_size, "patch_size": self.patch_size}
        )
        config.update(self._box_config())
        return config
