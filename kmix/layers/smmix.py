"""SMMix (self-motivated image mixing)."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.grid import grid_to_pixel_mask
from kmix.ops.sampling import sample_int
from kmix.ops.sampling import sample_uniform
from kmix.ops.seeds import split_seed
from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_images
from kmix.ops.validation import check_image_grid
from kmix.ops.validation import check_float
from kmix.ops.validation import check_int
from kmix.ops.validation import check_probability
from kmix.ops.windows import smmix_windows
from kmix.ops.windows import translated_partner
from kmix.ops.windows import window_token_mask

ATTENTION = "attention"


@kmix_export("kmix.layers.SMMix")
class SMMix(BaseMixLayer):
    """Pastes the partner's most-attended square of tokens onto the row's least-attended one.

    SMMix (Chen et al., 2023) lets the model being trained choose what to mix:
    a motivating forward pass of the model itself (inference mode, no
    gradient) on the clean batch gives every image's patch attention (last
    block, patch-to-patch, mean over heads and patch queries:
    `ViT.forward(..., attention="patch")`). A side `s` is drawn uniformly from
    `{floor(g * min_side_ratio), ..., floor(g * max_side_ratio)}` (`g` the
    token grid side; 3..10 for 14x14), every `s x s` window (stride 1) is scored
    by its summed attention, and the partner's highest-scoring window is
    pasted, token for token, onto the row's lowest-scoring window (a translated
    block of whole patches). `lam = 1 - s^2 / N` is, as for every kmix mixer,
    the measured own-pixel share. With probability `1 - switch_prob` a batch is
    mixed by MixUp with `lam ~ Beta(alpha, alpha)` instead (official).

    In training, SMMix adds a fine-grained term and a consistency term (see
    `kmix.losses.SMMixLoss`), which need the model: give the layer as `mixer`
    of a `kmix.models.ViT(..., token_head=True)` and compile with
    `kmix.losses.SMMixLoss()`. Each step then runs the motivating pass, mixes,
    and trains on the mixed images with the three losses (the SMMix step
    strategy of `kmix.models`, which `kmix.models.MixingMixin` runs for this
    mixer).

    Called directly (e.g. in `tf.data`), the layer needs the attention in the
    input dict under `"attention"` `(B, N)` and returns area-mixed labels.

    Differences from the official code, on purpose: the partner is a random
    derangement by default (`partner="flip"` is the official pairing);
    `lam_scope="sample"` draws the branch, side and MixUp ratio per row (the
    official: one per batch, kmix's default); non-square token grids use
    `g = min(Gh, Gw)`.

    **Note:** the image side is vectorised and static-shape (window sums for
    every candidate side at once), so the train step compiles under
    `jit_compile=True` and runs under `tf.distribute.MirroredStrategy`.

    Args:
        alpha: float > 0. Beta(alpha, alpha) of the MixUp branch. Defaults to
            `0.8` (official `mixup_alpha`).
        switch_prob: float in [0, 1], the probability of an SMMix batch (else
            MixUp). Defaults to `0.5`.
        patch_size: int, the ViT patch size. Defaults to `16`.
        min_side_ratio, max_side_ratio: floats in (0, 1], the range of the
            window side relative to the grid side. Defaults `0.25`, `0.75`.
        num_classes: int or `None`. Needed when labels are class ids.
        label_smoothing: float in [0, 1). Defaults to `0.0` (SMMix uses 0.1).
        lam_scope: `"batch"` (official) or `"sample"`.
        partner: `"permute"`, `"flip"` (official) or `"roll"`.
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: base layer arguments (`name`, `dtype`).

    Call arguments:
        data: a dict with `"images"`, `"attention"` `(B, N)` and optional
            `"labels"`, `"segmentation_masks"`; other keys pass through.
        training: bool. With `False` the input is returned unchanged.

    Returns:
        The same dict with mixed images and float32 `(B, K)` labels.

    Raises:
        ValueError: bad ratios or `switch_prob`; image sides that are not
            multiples of `patch_size`; a call without `"attention"` or with
            attention of the wrong shape; in `fit`, a model without
            `forward(..., attention="patch")` and a `token_head`, or a loss
            other than `kmix.losses.SMMixLoss`.

    Example:

    ```python
    import numpy as np
    import kmix

    images = np.random.rand(4, 32, 32, 3).astype("float32")
    attention = np.random.rand(4, 16).astype("float32")   # a 4x4 token grid
    layer = kmix.layers.SMMix(patch_size=8, switch_prob=1.0, num_classes=3,
                              seed=0)
    out = layer({"images": images, "labels": np.array([0, 1, 2, 0]),
                 "attention": attention})
    print(out["images"].shape, out["labels"].shape)  # (4, 32, 32, 3) (4, 3)
    plan = layer.sample_plan(images, attention=attention)
    print(set((16 * (1 - plan.lam.numpy())).round().tolist()) <= {1.0, 4.0, 9.0})  # True
    ```

    References:
        - [Chen et al., 2023](https://arxiv.org/abs/2212.12977) (SMMix, ICCV 2023)
        - [ChenMnZ/SMMix `smmix.py`, `engine.py`](https://github.com/ChenMnZ/SMMix)
    """

    # MixUp rows blend; SMMix rows select.
    binary_mask = False
    needs_model = True

    def __init__(
        self,
        alpha=0.8,
        switch_prob=0.5,
        patch_size=16,
        min_side_ratio=0.25,
        max_side_ratio=0.75,
        **kwargs,
    ):
        switch_prob = check_probability(switch_prob, "switch_prob")
        patch_size = check_int(patch_size, "patch_size", minimum=1)
        min_side_ratio = check_float(min_side_ratio, "min_side_ratio", 0, 1, min_inclusive=False)
        max_side_ratio = check_float(max_side_ratio, "max_side_ratio", 0, 1, min_inclusive=False)
        if min_side_ratio > max_side_ratio:
            raise ValueError(
                "`min_side_ratio` must not exceed `max_side_ratio`. Received: "
                f"min_side_ratio={min_side_ratio} and max_side_ratio={max_side_ratio}"
            )
        super().__init__(alpha=alpha, **kwargs)
        self.switch_prob = float(switch_prob)
        self.patch_size = patch_size
        self.min_side_ratio = float(min_side_ratio)
        self.max_side_ratio = float(max_side_ratio)

    # ------------------------------------------------------------------
    # Geometry
    # ------------------------------------------------------------------
    def _grid(self, height, width):
        return height // self.patch_size, width // self.patch_size

    def candidate_sides(self, grid_height, grid_width):
        """The window sides SMMix draws from for a token grid (a tuple of ints)."""
        g = min(grid_height, grid_width)
        low = max(1, int(g * self.min_side_ratio))
        high = min(g, max(low, int(g * self.max_side_ratio)))
        return tuple(range(low, high + 1))

    def check_image_size(self, height, width):
        check_image_grid(
            height, width, "SMMix", self.patch_size,
            "The image height and width must be multiples of `patch_size` "
            "(SMMix pastes whole tokens)",
        )

    def check_attention(self, attention, height, width):
        """Checks the patch attention `(B, N)` of a batch; float32, no gradient."""
        grid_h, grid_w = self._grid(height, width)
        attention = tf.convert_to_tensor(attention)
        if attention.shape.rank != 2 or attention.shape[1] not in (None, grid_h * grid_w):
            raise ValueError(
                f"SMMix's `attention` must have shape (B, {grid_h * grid_w}): one "
                f"score per token of the {grid_h}x{grid_w} grid (patch_size="
                f"{self.patch_size}). Received: attention.shape={_shape_str(attention)}"
            )
        return tf.stop_gradient(tf.cast(attention, tf.float32))

    # ------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------
    def sample_mask(self, batch_size, height, width, seed):
        raise ValueError(
            "SMMix chooses its windows from the model's attention: call it with "
            "a dict holding 'attention' (B, N), use `sample_plan(images, "
            "attention)`, or give it as the mixer of a kmix.models.ViT with "
            "token_head=True. Received: no attention"
        )

    def _sample_with_attention(self, batch_size, height, width, attention, seed=None):
        """The plan, with `shift` `(B, 2)` and `choice` (0: window, 1: MixUp)."""
        seed = to_seed_tensor(self.generator if seed is None else seed)
        seed_index, seed_switch, seed_side, seed_lam = split_seed(seed, 4)
        grid_h, grid_w = self._grid(height, width)
        index = self._partner_index(batch_size, seed_index)
        count = self._scope_size(batch_size)
        shape = tf.reshape(count, [1])
        use_smmix = self._broadcast_scope(
            sample_uniform(shape, seed_switch) < self.switch_prob, batch_size
        )
        sides_list = self.candidate_sides(grid_h, grid_w)
        pick = sample_int(shape, seed_side, len(sides_list))
        sides = self._broadcast_scope(tf.gather(tf.constant(sides_list, tf.int32), pick), batch_size)
        lam_mix = self._broadcast_scope(self._sample_ratios(count, seed_lam), batch_size)
        target, source = smmix_windows(attention, sides, grid_h, grid_w, index, sides_list)
        pasted = window_token_mask(target, sides, grid_h, grid_w)
        window_mask = grid_to_pixel_mask(1.0 - pasted, self.patch_size, height, width)
        blend_mask = tf.ones_like(window_mask) * lam_mix[:, None, None, None]
        mask = tf.where(use_smmix[:, None, None, None], window_mask, blend_mask)
        shift = tf.where(use_smmix[:, None], (target - source) * self.patch_size, 0)
        choice = tf.where(use_smmix, 0, 1)
        return self._finalize_plan(
            index, mask, batch_size, shift=tf.cast(shift, tf.int32),
            choice=tf.cast(choice, tf.int32),
        )

    def sample_plan(self, images, attention=None, seed=None, return_shift=False):
        """Draws the plan for a batch from its attention.

        Args:
            images: tensor `(B, H, W, C)` (channels-first per `data_format`).
            attention: float tensor `(B, N)`, every image's patch attention
                (`ViT.forward(images, attention="patch")["patch_attention"]`).
            seed: optional int or `(2,)` seed tensor; defaults to the layer's
                seed generator.
            return_shift: bool. Also return the `(B, 2)` pixel shift
                `(dy, dx)` that moves each partner's window onto the row's
                window (the plan carries it as `plan.shift` too).

        Returns:
            A `kmix.MixPlan` (with `shift`, and `choice`: 0 for a window paste,
            1 for a MixUp row), or `(plan, shift)`.
        """
        images, _ = check_images(images, allow_single=False)
        batch_size, height, width = self.image_dims(images)
        self.check_image_size(height, width)
        if attention is None:
            self.sample_mask(batch_size, height, width, seed)
        attention = self.check_attention(attention, height, width)
        plan = self._sample_with_attention(batch_size, height, width, attention, seed)
        return (plan, plan.shift) if return_shift else plan

    # ------------------------------------------------------------------
    # Applying
    # ------------------------------------------------------------------
    def partner_images(self, images, plan, nearest=False):
        if plan.shift is None:
            return None
        return translated_partner(images, plan.index, plan.shift, self.data_format)

    def mix_images(self, images, plan, shift=None):
        """Applies a plan: the partner, translated by `plan.shift`, fills the pasted window.

        Args:
            images: tensor `(B, H, W, C)` (channels-first per `data_format`).
            plan: a plan from `sample_plan`.
            shift: optional int tensor `(B, 2)` overriding `plan.shift` (kept
                for one release: plans from `sample_plan` carry it). A plan
                with neither pastes the partner's pixels at the same place (no
                translation), which is not SMMix's paste.

        Returns:
            The mixed images in the layer's compute dtype.
        """
        if shift is not None:
            plan = plan._replace(shift=tf.cast(shift, tf.int32))
        return super().mix_images(images, plan)

    def _extra_inputs(self, inputs, height, width):
        attention = inputs.data.get(ATTENTION) if inputs.form == "dict" else None
        if attention is None:
            self.sample_mask(None, height, width, None)
        attention = tf.convert_to_tensor(attention)
        if inputs.single and attention.shape.rank == 1:
            attention = attention[None]
        return self.check_attention(attention, height, width)

    def _sample_for_call(self, batch_size, height, width, extra, labels=None):
        return self._sample_with_attention(batch_size, height, width, extra)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "switch_prob": self.switch_prob,
                "patch_size": self.patch_size,
                "min_side_ratio": self.min_side_ratio,
                "max_side_ratio": self.max_side_ratio,
            }
        )
        return config


__all__ = ["SMMix"]
