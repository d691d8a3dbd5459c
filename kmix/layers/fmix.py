"""FMix."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import LAM_SCOPES
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.fourier import fourier_masks
from kmix.ops.sampling import sample_beta
from kmix.ops.seeds import split_seed
from kmix.ops.validation import check_float
from kmix.ops.validation import check_one_of
from kmix.ops.validation import check_int
from kmix.ops.validation import check_image_grid


@kmix_export("kmix.layers.FMix")
class FMix(BaseMixLayer):
    """Mixes with low-frequency Fourier masks of an exact area (FMix).

    Each row gets its own random mask (or, with `mask_scope="batch"`, the
    whole batch one, as the official code): a Gaussian random field with spectrum
    `1 / f ** decay_power`, thresholded so that exactly `k = ceil(lam * N)` or
    `floor(lam * N)` pixels (probability 1/2 each) keep the own image, with
    `lam ~ Beta(alpha, alpha)` (one per batch, as the official code, or one
    per row with `lam_scope="sample"`). Labels mix by the measured share of own
    pixels, which is `k / N`.

    Differences from the official code (ecs-vlc/FMix), all for speed, none
    changing what the labels say:
        - a mask per row by default (the official code draws one per batch,
          KerasCV's FourierMix one per row); `mask_scope="batch"` draws one
          for the batch, as the official code;
        - the field keeps the frequencies up to 12 cycles per image per axis
          (`num_frequencies`); with `decay_power=3` the rest holds about 1e-5
          of its variance;
        - the exact top-k pixels are found on 15-bit keys of the field, ties
          on the threshold key taken in raster order (always exactly `k`);
        - the Gaussian coefficients are Box-Muller transforms of
          counter-based uniforms (`kmix.ops.counter_random`): the same
          distribution, other values for a seed than before 2026-12-06, and
          the same values in every mode (fused kernels on or off, XLA);
        - the optional soft edge ramps linearly in field value between the
          pixels ranked `k - s` and `k + s` (officially linear in rank).

    **Note:** safe inside a `tf.data` pipeline, inside `keras.Sequential` (the
    plan reaches `kmix.losses.MixupCrossentropy`) and under `jit_compile=True`.
    Image height and width must be known statically.

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration. Defaults to `1.0`.
        decay_power: float > 0. Spectral decay; larger is smoother. Defaults
            to `3.0`.
        max_soft: float in [0, 0.5]. Width of the soft edge as a fraction of
            the pixels; `0` gives binary masks. Defaults to `0.0`.
        reformulate: bool. Draw `lam ~ Beta(alpha + 1, alpha)` (FMix's
            "reformulation"). Defaults to `False`.
        num_frequencies: int >= 1. Highest frequency kept per axis, in cycles
            per image. Defaults to `12`.
        mask_scope: `"sample"` (a mask per row, default) or `"batch"` (one
            mask for the batch, every row mixed with its partner through it:
            the official code). `"batch"` needs `lam_scope="batch"` (one
            mask has one area).
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
        lam_scope: `"batch"` or `"sample"`. Defaults to `"batch"`.
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

    layer = kmix.layers.FMix(num_classes=10, seed=0)
    images = np.random.rand(8, 32, 32, 3).astype("float32")
    plan = layer.sample_plan(images)
    print(np.allclose(plan.lam * 1024, np.round(plan.lam * 1024)))  # True
    mixed_images, mixed_labels = layer(images, np.arange(8))
    print(mixed_labels.shape)  # (8, 10)
    ```

    References:
        - [Harris et al., 2020](https://arxiv.org/abs/2002.12047)
        - [ecs-vlc/FMix](https://github.com/ecs-vlc/FMix)
    """

    # Boxes follow the mask: own boxes where they stay seen, the partner's where
    # they show (BaseMixLayer.mix_bounding_boxes).
    mixes_bounding_boxes = True

    def __init__(
        self,
        alpha=1.0,
        decay_power=3.0,
        max_soft=0.0,
        reformulate=False,
        num_frequencies=12,
        mask_scope="sample",
        bounding_box_format=None,
        min_visibility=0.1,
        **kwargs,
    ):
        super().__init__(alpha=alpha, **kwargs)
        self._init_box_arguments(bounding_box_format, min_visibility)
        decay_power = check_float(decay_power, "decay_power", 0, min_inclusive=False)
        max_soft = check_float(max_soft, "max_soft", 0, 0.5)
        if not isinstance(reformulate, bool):
            raise TypeError(f"`reformulate` must be a bool. Received: reformulate={reformulate!r}")
        num_frequencies = check_int(num_frequencies, "num_frequencies", minimum=1)
        check_one_of(mask_scope, "mask_scope", LAM_SCOPES)
        if mask_scope == "batch" and self.lam_scope != "batch":
            raise ValueError(
                "FMix's `mask_scope='batch'` draws one mask, which has one area: it "
                "needs `lam_scope='batch'`. Received: mask_scope='batch', "
                f"lam_scope={self.lam_scope!r}"
            )
        self.decay_power = decay_power
        self.max_soft = max_soft
        self.reformulate = reformulate
        self.num_frequencies = num_frequencies
        self.mask_scope = mask_scope
        self.binary_mask = not max_soft

    def check_image_size(self, height, width):
        check_image_grid(height, width, "FMix")

    def sample_mask(self, batch_size, height, width, seed):
        seed_lam, seed_mask = split_seed(seed, 2)
        count = self._scope_size(batch_size)
        if self.reformulate:
            lam = sample_beta([count], self.alpha + 1.0, seed_lam, beta=self.alpha)
        else:
            lam = self._sample_ratios(count, seed_lam)
        if self.mask_scope == "sample":
            lam = self._broadcast_scope(lam, batch_size)
        mask = fourier_masks(
            lam, height, width, seed_mask, self.decay_power, self.max_soft, self.num_frequencies
        )
        # mask_scope="batch", the official form: the one mask (of the batch's one lam) for every row.
        return tf.broadcast_to(mask, tf.stack([batch_size, height, width, 1]))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "decay_power": self.decay_power,
                "max_soft": self.max_soft,
                "reformulate": self.reformulate,
                "num_frequencies": self.num_frequencies,
                "mask_scope": self.mask_scope,
            }
        )
        config.update(self._box_config())
        return config
