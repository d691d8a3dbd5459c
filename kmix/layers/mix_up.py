"""MixUp."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.boxes import keep_both_boxes


@kmix_export("kmix.layers.MixUp")
class MixUp(BaseMixLayer):
    """Blends each image with a partner; labels mix with the same weight.

    `mixed = lam * images + (1 - lam) * take(images, index)` and
    `labels = lam * y + (1 - lam) * take(y, index)` with `lam ~ Beta(alpha, alpha)`.
    The plan's mask is `(B, 1, 1, 1)`, equal to `lam`.

    **Note:** safe inside a `tf.data` pipeline, inside `keras.Sequential` (the
    plan reaches `kmix.losses.MixupCrossentropy`) and under `jit_compile=True`.

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration. Defaults to `0.2`
            (Keras and KerasCV's default; timm and the DeiT recipe use 0.8-1.0).
        any_rank: bool. With `True` the inputs are batches `(B, ...)` of any
            rank (feature vectors, sequences, spectrograms), never one example,
            and are blended row by row (no segmentation masks). Defaults to
            `False`: the image forms of every kmix mixer.
        num_classes: int or `None`. Needed when labels are class ids.
        label_smoothing: float in [0, 1). Defaults to `0.0`.
        lam_scope: `"batch"` (one ratio per batch, as the paper and timm) or
            `"sample"` (one per row). Defaults to `"batch"`.
        partner: `"permute"` (random derangement), `"flip"` or `"roll"`, or a
            partner sampler such as `kmix.layers.CMixupPartner` (C-Mixup).
        label_mode: `"classification"` (default) or `"regression"` (float
            targets `(B,)` or `(B, D)` mixed linearly, never read as class ids).
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: base layer arguments (`name`, `dtype`).

    Call arguments:
        data: a dict with `"images"` and optional `"labels"`,
            `"segmentation_masks"`, `"bounding_boxes"` (other keys pass
            through); a tuple
            `(images, labels)`; or images alone. Images are `(B, H, W, C)`, or
            one `(H, W, C)` image (returned unchanged). Labels are class ids
            `(B,)` / `(B, 1)` with `num_classes`, or one-hot `(B, K)`.
        labels: labels as a second positional argument (as `ds.map` passes
            them for an `(x, y)` dataset).
        training: bool. With `False` the input is returned unchanged.

    Returns:
        The same structure with mixed images (in the layer's compute dtype) and
        float32 `(B, K)` labels.

    Example:

    ```python
    import numpy as np
    import kmix

    images = np.random.rand(8, 32, 32, 3).astype("float32")
    labels = np.arange(8) % 4
    mixer = kmix.layers.MixUp(alpha=0.4, num_classes=4, seed=1)
    mixed_images, mixed_labels = mixer(images, labels)
    print(mixed_images.shape, mixed_labels.shape)  # (8, 32, 32, 3) (8, 4)
    ```

    References:
        - [Zhang et al., 2018](https://arxiv.org/abs/1710.09412)
    """

    binary_mask = False

    # Both images show in every pixel: every row keeps both images' boxes.
    mixes_bounding_boxes = True

    def __init__(self, alpha=0.2, any_rank=False, **kwargs):
        if not isinstance(any_rank, bool):
            raise TypeError(f"`any_rank` must be a bool. Received: any_rank={any_rank!r}")
        super().__init__(alpha=alpha, **kwargs)
        self.any_rank = any_rank

    def sample_mask(self, batch_size, height, width, seed):
        lam = self._sample_ratios(self._scope_size(batch_size), seed)
        return tf.reshape(self._broadcast_scope(lam, batch_size), [-1, 1, 1, 1])

    def get_config(self):
        config = super().get_config()
        config["any_rank"] = self.any_rank
        return config

    def mix_bounding_boxes(self, bounding_boxes, plan, image_size=None):
        """Both images' boxes in every row: its own, then its partner's (Keras's and KerasCV's behaviour).

        `{"boxes": (B, N, 4), "labels": (B, N)}` (padded with -1, or ragged,
        in any `bounding_box_format`: coordinates are not converted) becomes
        `(B, 2N, 4)` / `(B, 2N)` (`kmix.ops.boxes.keep_both_boxes`). Keras
        core's `MixUp` concatenates the box labels along the batch axis, so its
        labels do not line up with its boxes; kmix keeps them together.
        """
        return keep_both_boxes(bounding_boxes, plan.index)
