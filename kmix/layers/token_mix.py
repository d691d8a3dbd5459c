"""TokenMix."""

from collections.abc import Mapping

import keras
import tensorflow as tf

from kmix._compat import check_teacher_backend
from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.grid import grid_to_pixel_mask
from kmix.ops.mixing import one_hot_labels
from kmix.ops.seeds import split_seed
from kmix.ops.token_masks import MASK_TYPES
from kmix.ops.token_masks import block_token_masks
from kmix.ops.token_masks import random_token_masks
from kmix.ops.teacher_targets import tokenmix_targets
from kmix.ops.token_masks import tokenmix_token_counts
from kmix.ops.tokens import token_mask
from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_image_grid
from kmix.ops.validation import check_float
from kmix.ops.validation import check_int
from kmix.ops.validation import check_one_of

TEACHER_MAPS = "teacher_maps"


@kmix_export("kmix.layers.TokenMix")
class TokenMix(BaseMixLayer):
    """Mixes two images token by token: a set of ViT patches comes from the partner.

    TokenMix (Liu et al., 2022) replaces a set of whole `patch_size` patches of
    each image by the same patches of its partner. The number of partner
    tokens is `min(N, floor((1 - lam) * N) + minimum_tokens)` with the official
    fixed `lam = lam_constant = 0.5` (the Beta draw of the official "cutmix"
    branch is discarded), i.e. 112 of 196 tokens for a 224 image and patch 16.
    The tokens are chosen by

    - `mask_type="block"` (official default): BEiT-style rectangles of random
      area and aspect ratio added until the count is reached
      (`kmix.ops.token_masks.block_token_masks`; a fixed-shape vectorised loop,
      so it runs in `tf.data` and under XLA), or
    - `mask_type="random"`: exactly that many tokens, uniformly at random.

    One mask per batch as the official code (`lam_scope="batch"`), or one per
    row (`lam_scope="sample"`). The label weight is, as for every kmix mixer,
    the measured share of own pixels (the official code returns the same
    `1 - count / N` but does not use it when a teacher is given).

    **Teacher targets.** With a `teacher` (a Keras model mapping the images to
    dense score maps `(B, Gh, Gw, K)` on the token grid, e.g. a CNN's class
    activation maps), or with precomputed maps passed in the input dict under
    `"teacher_maps"`, the labels follow the content instead of the area:
    `s_own` is the teacher mass of the row's own class over the tokens it keeps
    (the map normalised to sum 1), `s_partner` that of the partner's class over
    the pasted tokens (the partner's own map), as in the official
    `Mixup.__call__`. By default the target is
    `lam_t * y_own + (1 - lam_t) * y_partner` with
    `lam_t = s_own / (s_own + s_partner)` (rows sum to 1). With
    `faithful_targets=True` it is the official UNNORMALISED target
    `s/K + (s_own - s/2) * e_own + (s_partner - s/2) * e_partner`
    (`s` = `label_smoothing`), whose rows sum to `s_own + s_partner`; the
    official recipe trains it with `keras.losses.BinaryCrossentropy(
    from_logits=True)` (timm's `BinaryCrossEntropy` on a dense target is the
    same mean over batch and classes). Teacher targets are produced when the
    layer sees labels: dict or tuple input (`tf.data`), or as the `mixer` of
    a `kmix.models.MixingModel` / `ViT` with a `teacher` model, whose train
    step then gives the compiled loss the teacher targets as labels (with an
    identity plan; e.g. `kmix.losses.MixupCrossentropy()`, or
    `keras.losses.BinaryCrossentropy(from_logits=True)` with
    `faithful_targets=True`); metrics still see the original labels. For
    images alone inside a `keras.Sequential`, the plan (area weights) is used.
    The teacher runs in inference mode on the unmixed images (build it, e.g.
    call it once, before a distributed `fit`); it is not
    tracked as a sub-layer (its weights are neither trained nor saved with this
    layer; `get_config` keeps its architecture only).

    The official image side also switches to MixUp on half of the batches
    (`switch_prob`); compose `kmix.layers.RandomMixChoice([MixUp(alpha=0.8),
    TokenMix(...)])` for that (a TokenMix with a `teacher` cannot be a member:
    its teacher targets need this layer alone).

    **Note:** safe inside a `tf.data` pipeline, inside `keras.Sequential`
    (the plan reaches `kmix.losses.MixupCrossentropy`) and under
    `jit_compile=True`. Image height and width must be known statically and be
    multiples of `patch_size`.

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration of the own-image
            ratio, used only when `lam_constant=None`. Defaults to `1.0`.
        patch_size: int, the ViT patch size; the token grid is
            `(H / patch_size, W / patch_size)`. Defaults to `16`.
        mask_type: `"block"` (default) or `"random"`.
        minimum_tokens: int in `[0, N)`, tokens added to the partner count.
            Defaults to `14` (official).
        lam_constant: float in `[0, 1]` or `None`. The nominal own-image share
            that fixes the count (official `0.5`); `None` draws it from
            Beta(alpha, alpha).
        teacher: optional Keras model `images -> (B, Gh, Gw, K)` score maps.
        faithful_targets: bool. The official unnormalised teacher target
            (for a binary cross-entropy loss). Defaults to `False`.
        num_classes: int or `None`. Needed when labels are class ids.
        label_smoothing: float in [0, 1). Defaults to `0.0` (TokenMix uses 0.1).
        lam_scope: `"batch"` (one mask per batch, official) or `"sample"`.
        partner: `"permute"` (random derangement), `"flip"` (official) or `"roll"`.
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: base layer arguments (`name`, `dtype`).

    Call arguments:
        data: a dict with `"images"` and optional `"labels"`,
            `"teacher_maps"` `(B, Gh, Gw, K)` and `"segmentation_masks"` (other
            keys pass through unchanged, the teacher maps included); a tuple
            `(images, labels)`; or images alone.
        labels: labels as a second positional argument.
        training: bool. With `False` the input is returned unchanged.

    Returns:
        The same structure with mixed images and float32 `(B, K)` labels.

    Raises:
        ValueError: a bad `mask_type`, `lam_constant` or `minimum_tokens`
            (also at call when `minimum_tokens >= N`), image sides that are not
            multiples of `patch_size`, or teacher maps of the wrong shape.
        TypeError: `teacher` is not a Keras layer or model.

    Example:

    ```python
    import numpy as np
    import kmix

    images = np.random.rand(4, 32, 32, 3).astype("float32")
    layer = kmix.layers.TokenMix(patch_size=8, minimum_tokens=2, num_classes=3,
                                 seed=0)
    mixed, labels = layer(images, np.array([0, 1, 2, 0]))
    print(mixed.shape, labels.shape)  # (4, 32, 32, 3) (4, 3)
    plan = layer.sample_plan(images)
    print(kmix.ops.token_mask(plan.mask, 8).numpy().sum(axis=1).tolist())  # [6.0, 6.0, 6.0, 6.0]
    ```

    References:
        - [Liu et al., 2022](https://arxiv.org/abs/2207.08409) (TokenMix, ECCV 2022)
        - [Sense-X/TokenMix `tokenmix.py`](https://github.com/Sense-X/TokenMix)
        - [Bao et al., 2022](https://arxiv.org/abs/2106.08254) (BEiT block masking)
    """

    @property
    def labels_from_teacher(self):
        """True with a `teacher`: the labels follow the teacher's maps."""
        return self.teacher is not None

    def __init__(
        self,
        alpha=1.0,
        patch_size=16,
        mask_type="block",
        minimum_tokens=14,
        lam_constant=0.5,
        teacher=None,
        faithful_targets=False,
        **kwargs,
    ):
        patch_size = check_int(patch_size, "patch_size", minimum=1)
        check_one_of(mask_type, "mask_type", MASK_TYPES)
        minimum_tokens = check_int(
            minimum_tokens, "minimum_tokens", minimum=0,
            expected="an int >= 0 (and below the number of tokens)",
        )
        lam_constant = check_float(lam_constant, "lam_constant", 0, 1, allow_none=True)
        if isinstance(teacher, Mapping):
            teacher = keras.saving.deserialize_keras_object(teacher)
        if teacher is not None and not isinstance(teacher, keras.layers.Layer):
            raise TypeError(
                "`teacher` must be a Keras model (or layer) mapping images to "
                "score maps (B, Gh, Gw, K). Received: teacher of type "
                f"{type(teacher).__name__}"
            )
        check_teacher_backend("TokenMix", teacher, "'teacher_maps': its score maps (B, Gh, Gw, K)")
        super().__init__(alpha=alpha, **kwargs)
        self.patch_size = patch_size
        self.mask_type = mask_type
        self.minimum_tokens = minimum_tokens
        self.lam_constant = None if lam_constant is None else float(lam_constant)
        self.faithful_targets = bool(faithful_targets)
        # Not tracked: the teacher must not be trained nor counted among the
        # weights of a model that holds this layer.
        object.__setattr__(self, "teacher", teacher)

    # ------------------------------------------------------------------
    # Plan
    # ------------------------------------------------------------------
    def _grid(self, height, width):
        return height // self.patch_size, width // self.patch_size

    def check_image_size(self, height, width):
        p = self.patch_size
        check_image_grid(
            height, width, "TokenMix", p,
            "The image height and width must be multiples of `patch_size` "
            "(TokenMix mixes whole tokens)",
        )
        num_tokens = (height // p) * (width // p)
        if self.minimum_tokens >= num_tokens:
            raise ValueError(
                "`minimum_tokens` must be smaller than the number of tokens "
                f"N={num_tokens} ({height}x{width} images, patch_size={p}). "
                f"Received: minimum_tokens={self.minimum_tokens}"
            )

    def sample_mask(self, batch_size, height, width, seed):
        grid_h, grid_w = self._grid(height, width)
        num_tokens = grid_h * grid_w
        seed_lam, seed_mask = split_seed(seed, 2)
        count = self._scope_size(batch_size)
        if self.lam_constant is None:
            lam = self._sample_ratios(count, seed_lam)
        else:
            lam = tf.fill(tf.reshape(count, [1]), self.lam_constant)
        counts = tokenmix_token_counts(lam, num_tokens, self.minimum_tokens)
        if self.mask_type == "block":
            partner = block_token_masks(counts, grid_h, grid_w, seed_mask)
        else:
            partner = random_token_masks(counts, grid_h, grid_w, seed_mask)
        partner = self._broadcast_scope(partner, batch_size)
        return grid_to_pixel_mask(1.0 - partner, self.patch_size, height, width)

    def partner_token_mask(self, plan, height, width):
        """The plan's tokens taken from the partner, `(B, Gh, Gw)` float32 (1 = partner)."""
        grid_h, grid_w = self._grid(height, width)
        own = token_mask(plan.mask, self.patch_size)
        return tf.reshape(1.0 - own, [-1, grid_h, grid_w])

    # ------------------------------------------------------------------
    # Teacher targets
    # ------------------------------------------------------------------
    def check_teacher_maps(self, maps, height, width, num_classes):
        """Raises unless `maps` is `(B, Gh, Gw, K)` on the token grid of the images."""
        grid_h, grid_w = self._grid(height, width)
        shape = maps.shape
        ok = shape.rank == 4 and shape[1] in (None, grid_h) and shape[2] in (None, grid_w)
        if ok and num_classes is not None and shape[3] not in (None, num_classes):
            ok = False
        if not ok:
            k = num_classes if num_classes is not None else "K"
            raise ValueError(
                f"Teacher maps must have shape (B, {grid_h}, {grid_w}, {k}): one "
                f"score per token of the {grid_h}x{grid_w} grid and class. "
                f"Received: teacher_maps.shape={_shape_str(maps)}"
            )

    def label_width(self, labels):
        """The number of classes `K` of `labels` (one-hot width or `num_classes`)."""
        if labels.shape.rank == 2 and labels.shape[-1] not in (None, 1):
            return labels.shape[-1]
        return self.num_classes

    def teacher_maps(self, images, labels, maps=None):
        """The checked teacher maps of a batch, float32 without gradient.

        Args:
            images: `(B, H, W, C)` images (the teacher runs on them when `maps`
                is None).
            labels: the batch's labels (class ids or one-hot), for `K`.
            maps: optional precomputed maps `(B, Gh, Gw, K)`.
        """
        _, height, width = self.image_dims(images)
        if maps is None:
            maps = self.teacher(images, training=False)
        maps = tf.convert_to_tensor(maps)
        self.check_teacher_maps(maps, height, width, self.label_width(labels))
        return tf.stop_gradient(tf.cast(maps, tf.float32))

    def teacher_targets(self, maps, labels, plan):
        """The soft targets `(B, K)` of a mixed batch from the teacher's maps.

        Args:
            maps: float32 `(B, Gh, Gw, K)` from `teacher_maps`.
            labels: class ids `(B,)` or one-hot labels `(B, K)` of the clean batch.
            plan: the batch's `kmix.MixPlan`.

        Returns:
            float32 `(B, K)`: content-following targets, smoothed by
            `label_smoothing`; plain (smoothed) labels for a batch of one.
        """
        height, width = plan.mask.shape[1], plan.mask.shape[2]
        soft_labels = one_hot_labels(labels, self.num_classes, 0.0)
        targets = tokenmix_targets(
            maps,
            soft_labels,
            plan.index,
            self.partner_token_mask(plan, height, width),
            label_smoothing=self.label_smoothing,
            faithful=self.faithful_targets,
            fallback_lam=plan.lam,
        )
        # A batch of one is not mixed: plain (smoothed) labels.
        plain = one_hot_labels(soft_labels, None, self.label_smoothing)
        return tf.where(tf.shape(soft_labels)[0] < 2, plain, targets)

    def _extra_inputs(self, inputs, height, width):
        maps = inputs.data.get(TEACHER_MAPS) if inputs.form == "dict" else None
        if (self.teacher is None and maps is None) or inputs.labels is None:
            # No teacher, or images alone (the loss reads the area plan).
            return None
        if maps is not None:
            maps = tf.convert_to_tensor(maps)
            if inputs.single and maps.shape.rank == 3:
                maps = maps[None]
        return self.teacher_maps(inputs.images, inputs.labels, maps)

    def _encode_labels(self, inputs, extra):
        if extra is None:
            return super()._encode_labels(inputs, extra)
        # Checked here, before any work; smoothing comes with the targets.
        return one_hot_labels(inputs.labels, self.num_classes, 0.0)

    def _mix_labels(self, soft_labels, plan, extra):
        if extra is None:
            return super()._mix_labels(soft_labels, plan, extra)
        return self.teacher_targets(extra, soft_labels, plan)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "mask_type": self.mask_type,
                "minimum_tokens": self.minimum_tokens,
                "lam_constant": self.lam_constant,
                "teacher": (
                    keras.saving.serialize_keras_object(self.teacher)
                    if self.teacher is not None
                    else None
                ),
                "faithful_targets": self.faithful_targets,
            }
        )
        return config


__all__ = ["TokenMix"]
