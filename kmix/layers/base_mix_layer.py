"""BaseMixLayer: the public mixer contract (seeds, plan sampling and application)."""

import warnings
from collections.abc import Mapping

import keras
import tensorflow as tf

from kmix import step_record
from kmix._compat import current_call_context
from kmix._compat import current_entry_layer
from kmix.ops.box_formats import check_box_format
from kmix.ops.box_formats import missing_box_format_error
from kmix.ops.boxes import boxes_through_mask
from kmix.ops.boxes import check_bounding_boxes
from kmix._compat import tensorflow_seed_generator
from kmix.layers.mix_inputs import BOUNDING_BOXES
from kmix.layers.mix_inputs import MixInputs
from kmix.layers.mix_inputs import as_tensors
from kmix.layers.mix_inputs import call_with_tensorflow_ops
from kmix.layers.mix_inputs import unchanged
from kmix.ops import kernels as _kernels
from kmix.ops.mixing import lam_from_mask
from kmix.ops.mixing import blend_rows
from kmix.ops.mixing import mix_soft_labels
from kmix.ops.mixing import mix_segmentation_masks
from kmix.ops.mixing import one_hot_labels
from kmix.ops.mixing import regression_targets
from kmix.ops.sampling import PARTNER_MODES
from kmix.ops.sampling import sample_beta
from kmix.ops.sampling import sample_partner_index
from kmix.ops.seeds import split_seed
from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import check_batch
from kmix.ops.validation import check_float
from kmix.ops.validation import check_images
from kmix.ops.validation import check_label_smoothing
from kmix.ops.validation import check_num_classes
from kmix.ops.validation import check_positive
from kmix.ops.validation import check_seed
from kmix.mix_plan import PLAN_EXTRA_FIELDS
from kmix.mix_plan import MixPlan
from kmix.mix_plan import identity_plan
from kmix.ops.validation import check_one_of
from kmix.ops.validation import check_data_format

LAM_SCOPES = ("batch", "sample")
LABEL_MODES = ("classification", "regression")


class BaseMixLayer(keras.layers.Layer):
    """Base class of kmix's mixing layers, and the contract for writing a new one.

    A mixer is one subclass implementing `sample_mask`: the own-pixel weights
    of every row for a batch. Everything else is inherited: the partner index
    (`partner`), `lam` measured as the mean of the realised mask (in exactly one
    place, so labels always agree with pixels), label and segmentation-mask
    mixing, the input forms (dict, tuple, images alone, one image), seeds,
    `tf.data` / `keras.Sequential` / XLA support, recording the plan for kmix
    losses when the layer sees images only, and `get_config`. A mixer whose
    partner is transformed before pasting (ResizeMix shrinks it) also
    implements `partner_images`; one that needs a given image size implements
    `check_image_size`. Add your own constructor arguments to `get_config`.

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration of the mixing ratio.
        num_classes: int or `None`. Needed when labels are class ids.
        label_smoothing: float in [0, 1). Applied to both one-hot labels before
            mixing (timm's convention).
        lam_scope: `"batch"` (one ratio and one set of random parameters per
            batch, as the official implementations) or `"sample"` (per row).
        partner: `"permute"` (a random derangement, default), `"flip"` (timm)
            or `"roll"` (torchvision); or a partner sampler that draws from the
            labels, such as `kmix.layers.CMixupPartner` (C-Mixup).
        label_mode: `"classification"` (default: class ids or one-hot labels,
            mixed as soft labels) or `"regression"` (float targets `(B,)` or
            `(B, D)`, mixed linearly and never read as class ids; needs
            `num_classes=None` and `label_smoothing=0`).
        seed: int or `None`. Seeds the layer's `keras.random.SeedGenerator`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:

    ```python
    import keras
    import numpy as np
    import tensorflow as tf
    import kmix

    class TopBottomMix(kmix.layers.BaseMixLayer):
        # Keeps the top rows of each image; the partner fills the rest.

        def sample_mask(self, batch_size, height, width, seed):
            lam = self.sample_lam(batch_size, seed)  # (B,), per lam_scope
            rows = (tf.range(height, dtype="float32") + 0.5) / float(height)
            own = tf.cast(rows[None, :] < lam[:, None], "float32")  # (B, H)
            return tf.tile(own[:, :, None, None], [1, 1, width, 1])

    layer = TopBottomMix(num_classes=10, seed=0)
    images, labels = layer(np.random.rand(8, 32, 32, 3), np.arange(8))
    print(images.shape, labels.shape)  # (8, 32, 32, 3) (8, 10)
    ```
    """

    # Whether every mask of this mixer is 0/1 (cut and paste, no blend): the
    # apply kernel then selects instead of blending, and attention-guided label
    # layers refine the rows it mixes.
    binary_mask = True
    # Whether the mixer mixes a model's hidden states (ManifoldMixup), which only
    # the train step of a kmix model can do.
    mixes_hidden_states = False
    # Whether the mixer draws its plan from the images themselves (a saliency
    # or a feature map): `sample_mask(batch_size, height, width, seed)` cannot
    # draw it, `sample_plan(images, seed=..., labels=...)` does (its partner
    # index may be the mixer's own). Containers such as RandomMixChoice ask
    # such members for their whole plan.
    needs_images = False
    # Whether the mixer's plan or labels need the model being trained (SnapMix's
    # class activation maps, SMMix's attention): it runs as the mixer of a kmix
    # model's train step (or with those maps given).
    needs_model = False
    # Whether a RandomMixChoice inside a kmix model's train step may choose this
    # in-graph mixer (`needs_model` or `mixes_hidden_states`) for a batch: its
    # step gives the model's input and soft targets alone (SnapMix, AlignMix,
    # ManifoldMixup, gradient GuidedMixup; not SMMix, which needs its own loss).
    choosable_in_graph = False
    # Whether the labels come from a teacher model's maps (TokenMix with a
    # teacher), which a container cannot encode.
    labels_from_teacher = False
    # Whether the layer mixes a dict's `bounding_boxes` (`mix_bounding_boxes`).
    mixes_bounding_boxes = False
    # Containers such as RandomMixChoice draw no ratio of their own.
    _alpha_required = True

    def __init__(
        self,
        alpha=1.0,
        num_classes=None,
        label_smoothing=0.0,
        lam_scope="batch",
        partner="permute",
        seed=None,
        data_format=None,
        label_mode="classification",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if alpha is not None or self._alpha_required:
            alpha = check_positive(alpha, "alpha")
        num_classes = check_num_classes(num_classes)
        label_smoothing = check_label_smoothing(label_smoothing)
        check_one_of(lam_scope, "lam_scope", LAM_SCOPES)
        if isinstance(partner, Mapping):
            partner = keras.saving.deserialize_keras_object(partner)
        if isinstance(partner, str) or not callable(getattr(partner, "sample", None)):
            if partner not in PARTNER_MODES:
                raise ValueError(
                    f"`partner` must be one of {PARTNER_MODES} or a partner sampler "
                    "such as kmix.layers.CMixupPartner(...). "
                    f"Received: partner={partner!r}"
                )
        check_one_of(label_mode, "label_mode", LABEL_MODES)
        if label_mode == "regression" and (num_classes is not None or label_smoothing):
            raise ValueError(
                "With label_mode='regression' the targets are mixed linearly: "
                "`num_classes` must be None and `label_smoothing` 0. Received: "
                f"num_classes={num_classes} and label_smoothing={label_smoothing}"
            )
        data_format = data_format or keras.config.image_data_format()
        check_data_format(data_format)
        seed = check_seed(seed)
        self.alpha = alpha
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.lam_scope = lam_scope
        self.partner = partner
        self.label_mode = label_mode
        self.seed = seed
        self.data_format = data_format
        # A TensorFlow variable under every Keras backend: the layer computes
        # with TensorFlow ops (in tf.data under KERAS_BACKEND=jax or torch).
        self.generator = tensorflow_seed_generator(seed)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    # ------------------------------------------------------------------
    # The contract a new mixer implements
    # ------------------------------------------------------------------
    def sample_mask(self, batch_size, height, width, seed):
        """Returns the own-pixel mask of a batch: the one method a mixer implements.

        Args:
            batch_size: scalar int32 tensor `B` (may be unknown while tracing).
            height: int (or scalar tensor when unknown) `H`.
            width: int (or scalar tensor when unknown) `W`.
            seed: int32 tensor `(2,)`; use it with stateless ops only (split
                it with `kmix.ops.split_seed` for several draws).

        Returns:
            float32 `(B, H, W, 1)` (or `(B, 1, 1, 1)` for a blend): the weight
            of each row's own pixels, in `[0, 1]`. The partner fills the rest,
            and `lam` is measured from it. A built-in mixer may return
            `(mask, fields)`, where `fields` is a dict of the optional
            `kmix.MixPlan` fields it fills (`"boxes"`, `"shift"`, `"choice"`).
        """
        legacy = getattr(self, "_sample_mask", None)
        if legacy is not None:
            # The hook was private (`_sample_mask`) before it became this
            # contract; subclasses written against it work for one release.
            warnings.warn(
                f"{type(self).__name__} implements `_sample_mask`, the former "
                "private hook: rename it `sample_mask` (the old name is accepted "
                "for one release).",
                DeprecationWarning,
                stacklevel=2,
            )
            return legacy(batch_size, height, width, seed)
        raise NotImplementedError(
            f"{type(self).__name__} must implement `sample_mask(batch_size, "
            "height, width, seed)`, returning the own-pixel mask (B, H, W, 1)."
        )

    def partner_images(self, images, plan, nearest=False):
        """The partner pixels of every row, aligned with `images`, or `None`.

        Implement it only when the partner is transformed before pasting
        (ResizeMix pastes the whole partner, shrunk to the box read from the
        plan). `None` (the default) means `take(images, plan.index)`, which the
        apply kernel fuses.

        Args:
            images: `(B, H, W, C)` images (channels-first per `data_format`), or
                `(B, H, W)` / `(B, H, W, C)` segmentation masks.
            plan: the `kmix.MixPlan` being applied.
            nearest: bool. Resample with nearest neighbours only (segmentation
                masks keep their class ids).
        """
        return None

    def check_image_size(self, height, width):
        """Raises if this mixer cannot mix images of this size (before any work).

        `height` and `width` are ints, or scalar tensors when unknown statically.
        """

    def row_mixers(self, plan):
        """Which mixer mixed each row of `plan`.

        Returns:
            `(mixers, choice)`: a list of mixing layers and `None` (every row
            mixed by `mixers[0]`), or an int32 `(B,)` tensor indexing `mixers`
            per row (an index `len(mixers)` marks a row left unmixed).
        """
        return [self], None

    # ------------------------------------------------------------------
    # Helpers for sample_mask
    # ------------------------------------------------------------------
    def sample_lam(self, batch_size, seed, alpha=None):
        """Beta(alpha, alpha) ratios per row, float32 `(B,)`.

        One draw repeated over the batch with `lam_scope="batch"`, one per row
        with `"sample"`. XLA-safe (no gamma op).
        """
        ratios = self._sample_ratios(self._scope_size(batch_size), seed, alpha)
        return self._broadcast_scope(ratios, batch_size)

    def _scope_size(self, batch_size):
        """How many random parameter sets to draw: 1 per batch, or B."""
        return 1 if self.lam_scope == "batch" else batch_size

    def _broadcast_scope(self, value, batch_size):
        """Repeats per-batch parameters `(1, ...)` to `(B, ...)`."""
        if self.lam_scope == "batch":
            return tf.repeat(value, batch_size, axis=0)
        return value

    def _sample_ratios(self, count, seed, alpha=None):
        """`count` Beta(alpha, alpha) draws, float32 `(count,)`."""
        alpha = self.alpha if alpha is None else alpha
        return sample_beta(tf.reshape(count, [1]), alpha, seed)

    # ------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------
    def _mask_and_fields(self, batch_size, height, width, seed):
        out = self.sample_mask(batch_size, height, width, seed)
        mask, fields = out if isinstance(out, tuple) else (out, {})
        unknown = sorted(set(fields) - set(PLAN_EXTRA_FIELDS))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}.sample_mask returned plan fields {unknown}; "
                f"a MixPlan has the optional fields {PLAN_EXTRA_FIELDS}."
            )
        return mask, fields

    def _finalize_plan(self, index, mask, batch_size, **fields):
        """Builds the plan; lam is measured from the realised mask here only."""
        mask = tf.cast(mask, tf.float32)
        # A batch of one cannot be mixed: leave it as it is. (A cond runs one
        # branch only, where a select would rewrite the whole mask.)
        mask = tf.cond(batch_size < 2, lambda: tf.ones_like(mask), lambda: mask)
        return MixPlan(
            index=tf.cast(index, tf.int32), mask=mask, lam=lam_from_mask(mask), **fields
        )

    def _partner_index(self, batch_size, seed, labels=None):
        """Each row's partner: by `partner`'s rule, or drawn from the labels."""
        if isinstance(self.partner, str):
            return sample_partner_index(batch_size, seed, self.partner)
        if labels is None:
            raise ValueError(
                f"{type(self).__name__} draws partners with {self.partner!r}, which "
                "needs the labels of the batch: call the layer on (inputs, labels) "
                "or a dict with 'labels' (or pass labels= to sample_plan). "
                "Received: no labels"
            )
        return tf.cast(self.partner.sample(labels, seed), tf.int32)

    def _sample(self, batch_size, height, width, seed=None, labels=None):
        """Draws the plan of a batch of the given size."""
        seed = to_seed_tensor(self.generator if seed is None else seed)
        seed_index, seed_mask = split_seed(seed, 2)
        index = self._partner_index(batch_size, seed_index, labels)
        mask, fields = self._mask_and_fields(batch_size, height, width, seed_mask)
        return self._finalize_plan(index, mask, batch_size, **fields)

    def sample_plan(self, images, seed=None, labels=None):
        """Draws the `MixPlan` this layer would use for a batch of images.

        `layer.mix_images(images, layer.sample_plan(images))` gives what
        `layer(images)` gives with the same seed state.

        Args:
            images: tensor `(B, H, W, C)` (channels-first per `data_format`).
            seed: optional int or `(2,)` seed tensor; defaults to the layer's
                seed generator (which advances).
            labels: the batch's labels; needed only by a partner sampler that
                draws from them (`kmix.layers.CMixupPartner`).

        Returns:
            A `kmix.MixPlan` with `mask` of shape `(B, H, W, 1)` or `(B, 1, 1, 1)`.
        """
        images = self.check_inputs(images)
        batch_size, height, width = self.image_dims(images)
        self.check_image_size(height, width)
        return self._sample_from_images(images, batch_size, height, width, seed, labels)

    def _sample_from_images(self, images, batch_size, height, width, seed=None, labels=None):
        """The plan of checked images; a mixer that draws from them (`needs_images`) overrides it."""
        return self._sample(batch_size, height, width, seed, labels=labels)

    # ------------------------------------------------------------------
    # Applying
    # ------------------------------------------------------------------
    def _apply_images(self, images, plan, out_dtype):
        if images.shape.rank != 4:
            # A batch of another rank (features, sequences): a blend per row.
            values = tf.cast(images, tf.float32)
            mixed = blend_rows(values, tf.gather(values, plan.index), plan.lam)
            return tf.cast(mixed, out_dtype)
        partner = self.partner_images(images, plan)
        channels_first = self.data_format == "channels_first"
        if partner is None and plan.boxes is not None:
            return _kernels.blend_take_boxes(
                images, plan.index, plan.boxes, out_dtype, channels_first
            )
        binary = self.binary_mask and plan.mask.shape[1] != 1
        if partner is None:
            return _kernels.blend_take(
                images, plan.index, plan.mask, out_dtype, channels_first, binary
            )
        return _kernels.blend(images, partner, plan.mask, out_dtype, channels_first, binary)

    def _apply_segmentation_masks(self, masks, plan):
        partner = self.partner_images(masks, plan, nearest=True)
        if partner is None:
            partner = tf.gather(masks, plan.index)
        return mix_segmentation_masks(masks, partner, plan.mask, self.data_format)

    def mix_images(self, images, plan):
        """Applies a plan of this layer to a batch of images.

        Args:
            images: tensor `(B, H, W, C)` (channels-first per `data_format`).
            plan: a `kmix.MixPlan`, e.g. from `sample_plan`.

        Returns:
            The mixed images in the layer's compute dtype.
        """
        images = self.check_inputs(images)
        return self._apply_images(images, plan, self.compute_dtype)

    # ------------------------------------------------------------------
    # Call
    # ------------------------------------------------------------------
    def check_inputs(self, images, name="images"):
        """Checks a batch for this mixer: images `(B, H, W, C)`, or `(B, ...)` with `any_rank`."""
        if getattr(self, "any_rank", False):
            return check_batch(images, name)
        images, _ = check_images(images, name=name, allow_single=False)
        return images

    def image_dims(self, images):
        """`(B, H, W)` of rank-4 images per `data_format`; static sizes as ints.

        A batch of another rank (a layer with `any_rank=True`) has `H = W = 1`.
        """
        shape = tf.shape(images)
        if images.shape.rank != 4:
            return shape[0], 1, 1
        if self.data_format == "channels_first":
            h, w = images.shape[2], images.shape[3]
            dyn_h, dyn_w = shape[2], shape[3]
        else:
            h, w = images.shape[1], images.shape[2]
            dyn_h, dyn_w = shape[1], shape[2]
        return shape[0], (h if h is not None else dyn_h), (w if w is not None else dyn_w)

    def _extra_inputs(self, inputs, height, width):
        """Extra per-call inputs a subclass reads from the dict (checked), or None."""
        return None

    def _encode_labels(self, inputs, extra):
        """Soft `(B, K)` labels; every label check runs here, before any work."""
        if self.label_mode == "regression":
            return regression_targets(inputs.labels)
        return one_hot_labels(inputs.labels, self.num_classes, self.label_smoothing)

    def _sample_for_call(self, batch_size, height, width, extra, labels=None):
        return self._sample(batch_size, height, width, labels=labels)

    def _mix_labels(self, soft_labels, plan, extra):
        return mix_soft_labels(soft_labels, plan)

    def call(self, data, labels=None, sample_weight=None, training=True):
        inputs = MixInputs.parse(
            type(self).__name__, data, labels, sample_weight, boxes=self.mixes_bounding_boxes
        )
        deps = inputs.check(self.data_format, any_rank=getattr(self, "any_rank", False))
        if not training:
            if inputs.form == "images":
                # The loss of an evaluation step sees an identity plan: nothing
                # was mixed, and plan-aware losses know they are evaluating.
                batch_size = tf.shape(inputs.images)[0]
                step_record.set_record(
                    step_record.StepRecord(
                        identity_plan(batch_size),
                        self,
                        self.num_classes,
                        self.label_smoothing,
                        training=False,
                    )
                )
            return unchanged(data, labels, sample_weight)
        batch_size, height, width = self.image_dims(inputs.images)
        self.check_image_size(height, width)
        boxes = None
        if inputs.form == "dict" and BOUNDING_BOXES in inputs.data:
            # Checked before anything is sampled.
            boxes = check_bounding_boxes(inputs.data[BOUNDING_BOXES], batch_size, type(self).__name__)
            self._check_box_arguments()
        extra = self._extra_inputs(inputs, height, width)
        soft_labels = None
        if inputs.labels is not None:
            # Every label check (class ids need num_classes, ids in range, soft
            # width) runs here, before anything is sampled or mixed.
            soft_labels = self._encode_labels(inputs, extra)
        with tf.control_dependencies(deps):
            images = tf.identity(inputs.images)
        plan = self._sample_for_call(batch_size, height, width, extra, inputs.labels)
        mixed = self._apply_images(images, plan, self.compute_dtype)
        mixed_labels = None
        if soft_labels is not None:
            mixed_labels = self._mix_labels(soft_labels, plan, extra)
        mixed_masks = None
        if inputs.segmentation_masks is not None:
            mixed_masks = self._apply_segmentation_masks(inputs.segmentation_masks, plan)
        mixed_boxes = None
        if boxes is not None:
            mixed_boxes = self.mix_bounding_boxes(boxes, plan, image_size=(height, width))
        if inputs.form == "images":
            self._keep_plan(plan)
        return inputs.pack(mixed, mixed_labels, mixed_masks, mixed_boxes)

    def mix_bounding_boxes(self, bounding_boxes, plan, image_size=None):
        """The boxes of a mixed batch: by default, boxes that follow the plan's mask.

        A mixer whose `__init__` set the box arguments (`_init_box_arguments`:
        CutMix, FMix, MaskMix) keeps each row's own boxes where at least
        `min_visibility` of them stays visible and gains its partner's where
        that share shows through the pasted region, each clipped to the pixels
        that show (`kmix.ops.boxes.boxes_through_mask`): `(B, N, 4)` boxes
        become `(B, 2N, 4)`, a dropped box a -1 row (removed when ragged).
        ResizeMix, MixUp and RandomMixChoice override it.

        Args:
            bounding_boxes: checked `{"boxes", "labels"}` of the batch.
            plan: the batch's `kmix.MixPlan`.
            image_size: `(height, width)` of the images; read from the plan's
                mask when omitted.
        """
        if not hasattr(self, "min_visibility"):
            raise NotImplementedError(f"{type(self).__name__} does not mix bounding boxes.")
        return self._boxes_through_mask(bounding_boxes, plan, image_size)

    # ------------------------------------------------------------------
    # Boxes that follow the mask (CutMix, FMix, ResizeMix, MaskMix)
    # ------------------------------------------------------------------
    def _init_box_arguments(self, bounding_box_format, min_visibility):
        """Checks and sets the box arguments of a mixer whose boxes follow its mask."""
        self.bounding_box_format = check_box_format(bounding_box_format, type(self).__name__)
        self.min_visibility = check_float(min_visibility, "min_visibility", 0.0, 1.0)

    def _box_config(self):
        return {
            "bounding_box_format": self.bounding_box_format,
            "min_visibility": self.min_visibility,
        }

    def _check_box_arguments(self):
        """Raises, before any work, when boxes came but the layer cannot read them."""
        if hasattr(self, "min_visibility") and self.bounding_box_format is None:
            raise missing_box_format_error(type(self).__name__)

    def _boxes_through_mask(self, bounding_boxes, plan, image_size=None, paste_boxes=None):
        """Own boxes that stay visible and partner boxes that show through the mask (`kmix.ops.boxes`)."""
        if image_size is None:
            image_size = (plan.mask.shape[1], plan.mask.shape[2])
        return boxes_through_mask(
            bounding_boxes,
            plan.mask,
            plan.index,
            self.bounding_box_format,
            image_size,
            self.min_visibility,
            paste_boxes,
        )

    def _keep_plan(self, plan):
        """Records the plan for the loss of this step and checks that one reads it.

        Raises when the step already has another mixer (a second mixing layer
        in the same forward pass, or the train step of a model built on
        `kmix.models.MixingMixin` with its own `mixer`): one plan per step is
        all the labels can follow.
        """
        call_context = current_call_context()
        self._check_only_mixer(call_context, current_entry_layer())
        step_record.set_record(
            step_record.StepRecord(
                plan, self, self.num_classes, self.label_smoothing,
                call_context=call_context,
            )
        )
        step_record.check_loss_reads_plan(self, current_entry_layer())

    def _check_only_mixer(self, call_context, model):
        """Raises if another mixer already mixes the images of this step."""
        where = f"model '{model.name}'" if getattr(model, "name", None) else "one model"
        previous = step_record.get_record()
        if (
            call_context is not None
            and previous is not None
            and previous.training
            and previous.call_context is call_context
            and previous.source is not self
        ):
            other = previous.source
            raise ValueError(
                f"Two kmix mixing layers mix the images in one forward pass of "
                f"{where}: '{other.name}' ({type(other).__name__}) and "
                f"'{self.name}' ({type(self).__name__}). The labels can follow "
                "only one mixing plan per step: the loss would mix them with the "
                f"plan of '{self.name}' alone, and the images mixed by "
                f"'{other.name}' would train on wrong labels. Use one mixer in the "
                "model (e.g. kmix.layers.RandomMixChoice([...]) to choose among "
                "methods), or mix (images, labels) in the tf.data pipeline with "
                "`ds.map(layer)`."
            )
        mixer = getattr(model, "mixer", None)
        if (
            isinstance(model, keras.Model)
            and getattr(model, "mixes_in_train_step", False)
            and mixer is not None
            and step_record.in_mixing_step(model)
        ):
            raise ValueError(
                f"{type(model).__name__} '{model.name}' mixes every batch in its "
                f"train step with mixer='{mixer.name}' ({type(mixer).__name__}), "
                f"and its graph also holds the mixing layer '{self.name}' "
                f"({type(self).__name__}), which would mix the images a second "
                "time: the labels can follow only one mixing plan per step. "
                "Remove the mixing layer from the model, or build the model with "
                "mixer=None to keep the layer as its only mixer."
            )

    # ------------------------------------------------------------------
    # Keras plumbing
    # ------------------------------------------------------------------
    @tf.autograph.experimental.do_not_convert
    def __call__(self, data, *args, **kwargs):
        if isinstance(data, Mapping):
            # Checked here too: Keras's own argument checks would otherwise
            # report the nested box dict first, less clearly.
            MixInputs.parse(
                type(self).__name__, data, args[0] if args else None,
                args[1] if len(args) > 1 else None, boxes=self.mixes_bounding_boxes,
            )
            if BOUNDING_BOXES in data:
                self._check_box_arguments()
        data, args = as_tensors(data, args)
        if keras.backend.backend() != "tensorflow":
            return call_with_tensorflow_ops(self, data, args, kwargs)
        return super().__call__(data, *args, **kwargs)

    def build(self, input_shape=None):
        self.built = True

    def compute_output_spec(self, data, labels=None, sample_weight=None, training=True):
        def spec(x, dtype=None):
            return keras.KerasTensor(x.shape, dtype=dtype or x.dtype)

        if isinstance(data, Mapping) or isinstance(data, (tuple, list)) or labels is not None:
            raise ValueError(
                f"Inside a functional or Sequential model {type(self).__name__} "
                "takes images only; mix (images, labels) in tf.data instead."
            )
        return spec(data, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alpha": self.alpha,
                "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing,
                "lam_scope": self.lam_scope,
                "partner": (
                    self.partner if isinstance(self.partner, str)
                    else keras.saving.serialize_keras_object(self.partner)
                ),
                "label_mode": self.label_mode,
                "seed": self.seed,
                "data_format": self.data_format,
            }
        )
        return config
