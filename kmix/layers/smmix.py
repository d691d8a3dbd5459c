"""SMMix (self-motivated image mixing)."""

from collections.abc import Mapping

import keras
import tensorflow as tf

from kmix import _context
from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.grid import grid_to_pixel_mask
from kmix.ops.mixing import mix_soft_labels
from kmix.ops.mixing import one_hot_labels
from kmix.ops.sampling import sample_int
from kmix.ops.sampling import sample_partner_index
from kmix.ops.sampling import sample_uniform
from kmix.ops.seeds import split_seed
from kmix.ops.seeds import to_seed_tensor
from kmix.ops.tokens import token_mask
from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_images
from kmix.ops.validation import check_float
from kmix.ops.validation import check_int
from kmix.ops.validation import check_probability
from kmix.ops.windows import region_mean
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
    and trains on the mixed images with the three losses
    (`SMMix._kmix_train_step`, delegated to by `kmix.models.MixingMixin`).

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
    _binary_mask = False

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

    def _check_image_size(self, height, width):
        if not (isinstance(height, int) and isinstance(width, int)):
            raise ValueError(
                "SMMix needs the image height and width known statically. "
                "Received: images of unknown size"
            )
        p = self.patch_size
        if height % p or width % p:
            raise ValueError(
                "The image height and width must be multiples of `patch_size` "
                f"(SMMix pastes whole tokens). Received: patch_size={p} and "
                f"images of size {height}x{width}"
            )

    def _check_attention(self, attention, height, width):
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
    def _sample_mask(self, batch_size, height, width, seed):
        raise ValueError(
            "SMMix chooses its windows from the model's attention: call it with "
            "a dict holding 'attention' (B, N), use `sample_plan(images, "
            "attention)`, or give it as the mixer of a kmix.models.ViT with "
            "token_head=True. Received: no attention"
        )

    def _sample_with_attention(self, batch_size, height, width, attention, seed=None):
        """Draws `(plan, aux)`; aux holds `"shift"` `(B, 2)` and `"smmix"` `(B,)` bool."""
        seed = to_seed_tensor(self.generator if seed is None else seed)
        seed_index, seed_switch, seed_side, seed_lam = split_seed(seed, 4)
        grid_h, grid_w = self._grid(height, width)
        index = sample_partner_index(batch_size, seed_index, self.partner)
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
        plan = self._finalize_plan(index, mask, batch_size)
        return plan, {"shift": shift, "smmix": use_smmix}

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
                window (what `mix_images` needs).

        Returns:
            A `kmix.MixPlan`, or `(plan, shift)`.
        """
        images, _ = check_images(images, allow_single=False)
        batch_size, height, width = self._batch_dims(images)
        self._check_image_size(height, width)
        if attention is None:
            self._sample_mask(batch_size, height, width, seed)
        attention = self._check_attention(attention, height, width)
        plan, aux = self._sample_with_attention(batch_size, height, width, attention, seed)
        return (plan, aux["shift"]) if return_shift else plan

    # ------------------------------------------------------------------
    # Applying
    # ------------------------------------------------------------------
    def _partner_images(self, images, plan, aux, nearest=False):
        if "shift" not in aux:
            return None
        return translated_partner(images, plan.index, aux["shift"], self.data_format)

    def mix_images(self, images, plan, shift=None):
        """Applies a plan: the partner, translated by `shift`, fills the pasted window.

        Args:
            images: tensor `(B, H, W, C)` (channels-first per `data_format`).
            plan: a plan from `sample_plan`.
            shift: int tensor `(B, 2)` from `sample_plan(..., return_shift=True)`;
                `None` pastes the partner's pixels at the same place (no
                translation), which is not SMMix's paste.

        Returns:
            The mixed images in the layer's compute dtype.
        """
        images, _ = check_images(images, allow_single=False)
        aux = {} if shift is None else {"shift": tf.cast(shift, tf.int32)}
        return self._apply_images(images, plan, aux, self.compute_dtype)

    def call(self, data, labels=None, sample_weight=None, training=True):
        if not training:
            return super().call(data, labels, sample_weight, training=training)
        attention = data.get(ATTENTION) if isinstance(data, Mapping) else None
        inputs = self._unpack(data, labels, sample_weight)
        deps = self._validate(inputs)
        images = inputs.images
        batch_size, height, width = self._batch_dims(images)
        self._check_image_size(height, width)
        if attention is None:
            self._sample_mask(batch_size, height, width, None)
        attention = tf.convert_to_tensor(attention)
        if inputs.single and attention.shape.rank == 1:
            attention = attention[None]
        attention = self._check_attention(attention, height, width)
        soft_labels = None
        if inputs.labels is not None:
            soft_labels = one_hot_labels(inputs.labels, self.num_classes, self.label_smoothing)
        with tf.control_dependencies(deps):
            images = tf.identity(images)
        plan, aux = self._sample_with_attention(batch_size, height, width, attention)
        mixed = self._apply_images(images, plan, aux, self.compute_dtype)
        mixed_labels = None if soft_labels is None else mix_soft_labels(soft_labels, plan)
        masks = None
        if inputs.segmentation_masks is not None:
            masks = self._apply_segmentation_masks(inputs.segmentation_masks, plan, aux)
        if inputs.form == "images":
            self._keep_plan(plan)
        return self._pack(inputs, mixed, mixed_labels, masks)

    # ------------------------------------------------------------------
    # The train step (delegated to by kmix.models.MixingMixin)
    # ------------------------------------------------------------------
    def _check_model(self, model):
        if not callable(getattr(model, "forward", None)) or getattr(model, "token_head", None) is None:
            raise ValueError(
                "SMMix needs a model that gives its patch attention and final "
                "tokens (`forward(images, training, attention='patch')`) and has "
                "a `token_head` for the fine-grained labels: use "
                "kmix.models.ViT(..., token_head=True). Received: model of type "
                f"{type(model).__name__} with "
                f"forward={'yes' if callable(getattr(model, 'forward', None)) else 'no'} "
                f"and token_head={getattr(model, 'token_head', None)!r}"
            )
        from kmix.losses.smmix_loss import SMMixLoss

        losses = keras.tree.flatten(model.loss) if model.loss is not None else []
        if not any(isinstance(l, SMMixLoss) for l in losses):
            raise ValueError(
                "A model mixed by SMMix trains with kmix.losses.SMMixLoss (mixed "
                "labels, fine-grained token-head labels and the consistency "
                "term): compile(loss=kmix.losses.SMMixLoss()). Received: "
                f"loss={model.loss!r}"
            )

    def _kmix_train_step(self, model, data):
        """One SMMix training step: motivating pass, mix, three-term loss, update."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self._check_model(model)
        y = model._check_labels(y)
        images, _ = check_images(x, name="x", allow_single=False)
        batch_size, height, width = self._batch_dims(images)
        self._check_image_size(height, width)

        seed = model._step_seed()
        clean = model.forward(images, training=False, attention="patch")
        clean_logits = tf.stop_gradient(tf.cast(clean["logits"], tf.float32))
        attention = self._check_attention(clean["patch_attention"], height, width)
        plan, aux = self._sample_with_attention(batch_size, height, width, attention, seed)
        mixed = self._apply_images(images, plan, aux, self.compute_dtype)
        smmix_rows = tf.cast(aux["smmix"], tf.float32)
        own_tokens = token_mask(plan.mask, self.patch_size)
        target_region = own_tokens * smmix_rows[:, None]
        source_region = (1.0 - own_tokens) * smmix_rows[:, None]

        with tf.GradientTape() as tape:
            out = model.forward(mixed, training=True)
            logits = out["logits"]
            tokens = out["tokens"]
            _context.set_record(
                _context.StepRecord(
                    plan, self, self.num_classes, self.label_smoothing, True,
                    plans=[plan],
                    clean_logits=clean_logits,
                    target_logits=model.token_head(region_mean(tokens, target_region)),
                    source_logits=model.token_head(region_mean(tokens, source_region)),
                    smmix_rows=smmix_rows,
                    shift=aux["shift"],
                    patch_attention=attention,
                )
            )
            loss = model._compute_loss(
                x=mixed, y=y, y_pred=logits, sample_weight=sample_weight, training=True
            )
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            model._loss_tracker.update_state(
                loss * tf.cast(replicas, loss.dtype) if replicas > 1 else loss,
                sample_weight=tf.shape(images)[0],
            )
            if model.optimizer is not None:
                loss = model.optimizer.scale_loss(loss)
        weights = model.trainable_weights
        gradients = tape.gradient(loss, weights)
        model.optimizer.apply_gradients(zip(gradients, weights))
        return model.compute_metrics(mixed, y, logits, sample_weight=sample_weight)

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
