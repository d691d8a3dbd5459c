"""BaseMixLayer: seeds, input forms, plan sampling and application."""

from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf

from kmix import _context
from kmix._compat import current_call_context
from kmix._compat import current_entry_layer
from kmix._compat import require_tensorflow_backend
from kmix.ops import kernels as _kernels
from kmix.ops.mixing import lam_from_mask
from kmix.ops.mixing import mix_soft_labels
from kmix.ops.mixing import mix_segmentation_masks
from kmix.ops.mixing import one_hot_labels
from kmix.ops.sampling import PARTNER_MODES
from kmix.ops.sampling import sample_beta
from kmix.ops.sampling import sample_partner_index
from kmix.ops.seeds import split_seed
from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_images
from kmix.ops.validation import check_label_smoothing
from kmix.ops.validation import check_num_classes
from kmix.ops.validation import check_positive
from kmix.ops.validation import check_same_batch
from kmix.ops.validation import check_seed
from kmix.plan import MixPlan
from kmix.plan import identity_plan

IMAGES = "images"
LABELS = "labels"
SEGMENTATION_MASKS = "segmentation_masks"
BOUNDING_BOXES = "bounding_boxes"

LAM_SCOPES = ("batch", "sample")


class _Inputs:
    """The parsed call arguments: which form they came in and their parts."""

    def __init__(self, form, images, labels=None, segmentation_masks=None,
                 sample_weight=None, data=None, single=False):
        self.form = form
        self.images = images
        self.labels = labels
        self.segmentation_masks = segmentation_masks
        self.sample_weight = sample_weight
        self.data = data
        self.single = single


class BaseMixLayer(keras.layers.Layer):
    """Base class of kmix's mixing layers.

    A subclass implements `_sample_mask`; the base class draws the partner
    index, measures `lam` as the mean of the realised mask (in exactly one place,
    so labels always agree with pixels), routes the input forms, mixes labels
    and segmentation masks, and keeps the plan for kmix losses when it only sees
    images (inside a `keras.Sequential`).

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration of the mixing ratio.
        num_classes: int or `None`. Needed when labels are class ids.
        label_smoothing: float in [0, 1). Applied to both one-hot labels before
            mixing (timm's convention).
        lam_scope: `"batch"` (one ratio and one set of random parameters per
            batch, as the official implementations) or `"sample"` (per row).
        partner: `"permute"` (a random derangement, default), `"flip"` (timm)
            or `"roll"` (torchvision).
        seed: int or `None`. Seeds the layer's `keras.random.SeedGenerator`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`).
    """

    # Masks of this mixer are 0/1, which lets the apply kernel select
    # instead of blend.
    _binary_mask = True
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
        **kwargs,
    ):
        require_tensorflow_backend(type(self).__name__)
        super().__init__(**kwargs)
        if alpha is not None or self._alpha_required:
            alpha = check_positive(alpha, "alpha")
        num_classes = check_num_classes(num_classes)
        label_smoothing = check_label_smoothing(label_smoothing)
        if lam_scope not in LAM_SCOPES:
            raise ValueError(
                f"`lam_scope` must be one of {LAM_SCOPES}. "
                f"Received: lam_scope={lam_scope!r}"
            )
        if partner not in PARTNER_MODES:
            raise ValueError(
                f"`partner` must be one of {PARTNER_MODES}. "
                f"Received: partner={partner!r}"
            )
        data_format = data_format or keras.config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "`data_format` must be 'channels_last' or 'channels_first'. "
                f"Received: data_format={data_format!r}"
            )
        seed = check_seed(seed)
        self.alpha = alpha
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.lam_scope = lam_scope
        self.partner = partner
        self.seed = seed
        self.data_format = data_format
        self.generator = keras.random.SeedGenerator(seed)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    # ------------------------------------------------------------------
    # Subclass hooks
    # ------------------------------------------------------------------
    def _sample_mask(self, batch_size, height, width, seed):
        """Returns the own-pixel mask `(B, H, W, 1)` or `(B, 1, 1, 1)`.

        A subclass may return `(mask, aux)` instead, where `aux` is a dict of
        tensors its `_apply_images` can use for a faster paste (the mask stays
        the definition of the plan; `lam` is always measured from it).
        """
        raise NotImplementedError

    def _mask_and_aux(self, batch_size, height, width, seed):
        out = self._sample_mask(batch_size, height, width, seed)
        return out if isinstance(out, tuple) else (out, {})

    def _check_image_size(self, height, width):
        """Raises if this mixer cannot handle images of this size (before work)."""

    def _partner_images(self, images, plan, aux, nearest=False):
        """The partner pixels for every row, aligned with `images`.

        Default: `take(images, index)`. ResizeMix pastes a resized partner.
        Returning `None` means "take(images, index)" and lets the apply
        kernel fuse the gather.
        """
        return None

    # ------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------
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

    def _finalize_plan(self, index, mask, batch_size):
        """Builds the plan; lam is measured from the realised mask here only."""
        mask = tf.cast(mask, tf.float32)
        # A batch of one cannot be mixed: leave it as it is. (A cond runs one
        # branch only, where a select would rewrite the whole mask.)
        mask = tf.cond(batch_size < 2, lambda: tf.ones_like(mask), lambda: mask)
        return MixPlan(index=tf.cast(index, tf.int32), mask=mask, lam=lam_from_mask(mask))

    def _sample(self, batch_size, height, width, seed=None):
        """Draws `(plan, aux)`; `aux` holds apply-time data of composite mixers."""
        seed = to_seed_tensor(self.generator if seed is None else seed)
        seed_index, seed_mask = split_seed(seed, 2)
        index = sample_partner_index(batch_size, seed_index, self.partner)
        mask, aux = self._mask_and_aux(batch_size, height, width, seed_mask)
        return self._finalize_plan(index, mask, batch_size), aux

    def sample_plan(self, images, seed=None):
        """Draws the `MixPlan` this layer would use for a batch of images.

        Args:
            images: tensor `(B, H, W, C)` (channels-first per `data_format`).
            seed: optional int or `(2,)` seed tensor; defaults to the layer's
                seed generator (which advances).

        Returns:
            A `kmix.MixPlan` with `mask` of shape `(B, H, W, 1)` or `(B, 1, 1, 1)`.
        """
        images, _ = check_images(images, allow_single=False)
        batch_size, height, width = self._batch_dims(images)
        self._check_image_size(height, width)
        plan, _ = self._sample(batch_size, height, width, seed)
        return plan

    # ------------------------------------------------------------------
    # Applying
    # ------------------------------------------------------------------
    def _apply_images(self, images, plan, aux, out_dtype):
        partner = self._partner_images(images, plan, aux)
        channels_first = self.data_format == "channels_first"
        binary = self._binary_mask and plan.mask.shape[1] != 1
        if partner is None:
            return _kernels.blend_take(
                images, plan.index, plan.mask, out_dtype, channels_first, binary
            )
        return _kernels.blend(images, partner, plan.mask, out_dtype, channels_first, binary)

    def _apply_segmentation_masks(self, masks, plan, aux):
        partner = self._partner_images(masks, plan, aux, nearest=True)
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
        images, _ = check_images(images, allow_single=False)
        return self._apply_images(images, plan, {}, self.compute_dtype)

    # ------------------------------------------------------------------
    # Call
    # ------------------------------------------------------------------
    def _batch_dims(self, images):
        shape = tf.shape(images)
        if self.data_format == "channels_first":
            h, w = images.shape[2], images.shape[3]
            dyn_h, dyn_w = shape[2], shape[3]
        else:
            h, w = images.shape[1], images.shape[2]
            dyn_h, dyn_w = shape[1], shape[2]
        return shape[0], (h if h is not None else dyn_h), (w if w is not None else dyn_w)

    def _unpack(self, data, labels, sample_weight):
        if isinstance(data, Mapping):
            if labels is not None or sample_weight is not None:
                raise ValueError(
                    f"{type(self).__name__} takes either a dict or "
                    "(images, labels) as arguments, not both. Received: a dict "
                    "and a second positional argument"
                )
            if IMAGES not in data:
                raise ValueError(
                    f"A dict input to {type(self).__name__} must have an "
                    f"'{IMAGES}' key. Received keys: {sorted(data.keys())}"
                )
            if BOUNDING_BOXES in data:
                raise ValueError(
                    f"`{BOUNDING_BOXES}` are not supported yet by "
                    f"{type(self).__name__}: mixing would need box labels "
                    "from both images. Remove the key or mix detection data "
                    "with a detection-specific augmentation. Received keys: "
                    f"{sorted(data.keys())}"
                )
            return _Inputs(
                "dict",
                data[IMAGES],
                data.get(LABELS),
                data.get(SEGMENTATION_MASKS),
                data=data,
            )
        if isinstance(data, (tuple, list)):
            if labels is not None:
                raise ValueError(
                    f"{type(self).__name__} takes either a tuple "
                    "(images, labels) or images and labels as two arguments, "
                    "not both."
                )
            if len(data) not in (2, 3):
                raise ValueError(
                    f"A tuple input to {type(self).__name__} must be "
                    "(images, labels) or (images, labels, sample_weight). "
                    f"Received: a tuple of length {len(data)}"
                )
            sw = data[2] if len(data) == 3 else None
            return _Inputs("tuple", data[0], data[1], sample_weight=sw, data=data)
        if labels is not None:
            return _Inputs("args", data, labels, sample_weight=sample_weight)
        if sample_weight is not None:
            raise ValueError(
                f"{type(self).__name__} received `sample_weight` without labels."
            )
        return _Inputs("images", data)

    def _validate(self, inputs):
        """All checks, before any work. Returns rank-4 images and labels."""
        name = IMAGES if inputs.form == "dict" else "images"
        images, single = check_images(inputs.images, name=name)
        if not (images.dtype.is_floating or images.dtype.is_integer):
            raise TypeError(
                f"`images` must have a real or integer dtype. "
                f"Received: images.dtype={images.dtype.name}"
            )
        inputs.images = images
        inputs.single = single
        deps = []
        if inputs.labels is not None:
            labels = tf.convert_to_tensor(inputs.labels)
            if single:
                labels = labels[None]
            deps += check_same_batch(images, labels)
            inputs.labels = labels
        if inputs.segmentation_masks is not None:
            masks = tf.convert_to_tensor(inputs.segmentation_masks)
            if single:
                masks = masks[None]
            deps += check_same_batch(images, masks, (IMAGES, SEGMENTATION_MASKS))
            spatial_axes = (2, 3) if self.data_format == "channels_first" else (1, 2)
            img_hw = tuple(images.shape[a] for a in spatial_axes)
            if masks.shape.rank not in (3, 4):
                raise ValueError(
                    "`segmentation_masks` must have shape (B, H, W) or "
                    f"(B, H, W, C). Received: segmentation_masks.shape="
                    f"{_shape_str(masks)}"
                )
            mask_axes = spatial_axes if masks.shape.rank == 4 else (1, 2)
            mask_hw = tuple(masks.shape[a] for a in mask_axes)
            if None not in img_hw + mask_hw and img_hw != mask_hw:
                raise ValueError(
                    "`segmentation_masks` must have the spatial size of the "
                    f"images {img_hw}. Received: segmentation_masks.shape="
                    f"{_shape_str(masks)} and images.shape={_shape_str(images)}"
                )
            inputs.segmentation_masks = masks
        return deps

    def _pack(self, inputs, images, labels, masks):
        if inputs.single:
            images = images[0]
            labels = labels[0] if labels is not None else None
            masks = masks[0] if masks is not None else None
        if inputs.form == "dict":
            out = dict(inputs.data)
            out[IMAGES] = images
            if labels is not None:
                out[LABELS] = labels
            if masks is not None:
                out[SEGMENTATION_MASKS] = masks
            return out
        if inputs.form in ("tuple", "args"):
            if inputs.sample_weight is not None:
                return (images, labels, inputs.sample_weight)
            return (images, labels)
        return images

    def _identity(self, data, labels, sample_weight):
        if labels is None and sample_weight is None:
            return data
        if sample_weight is None:
            return (data, labels)
        return (data, labels, sample_weight)

    def call(self, data, labels=None, sample_weight=None, training=True):
        inputs = self._unpack(data, labels, sample_weight)
        deps = self._validate(inputs)
        if not training:
            if inputs.form == "images":
                # The loss of an evaluation step sees an identity plan: nothing
                # was mixed, and plan-aware losses know they are evaluating.
                batch_size, height, width = self._batch_dims(inputs.images)
                _context.set_record(
                    _context.StepRecord(
                        identity_plan(batch_size),
                        self,
                        self.num_classes,
                        self.label_smoothing,
                        training=False,
                    )
                )
            return self._identity(data, labels, sample_weight)
        soft_labels = None
        if inputs.labels is not None:
            # Every label check (class ids need num_classes, ids in range, soft
            # width) runs here, before anything is sampled or mixed.
            soft_labels = one_hot_labels(
                inputs.labels, self.num_classes, self.label_smoothing
            )
        with tf.control_dependencies(deps):
            images = tf.identity(inputs.images)
        batch_size, height, width = self._batch_dims(images)
        self._check_image_size(height, width)
        plan, aux = self._sample(batch_size, height, width)
        mixed = self._apply_images(images, plan, aux, self.compute_dtype)
        mixed_labels = None
        if soft_labels is not None:
            mixed_labels = mix_soft_labels(soft_labels, plan)
        mixed_masks = None
        if inputs.segmentation_masks is not None:
            mixed_masks = self._apply_segmentation_masks(
                inputs.segmentation_masks, plan, aux
            )
        if inputs.form == "images":
            self._keep_plan(plan)
        return self._pack(inputs, mixed, mixed_labels, mixed_masks)

    def _keep_plan(self, plan):
        """Records the plan for the loss of this step and checks that one reads it.

        Raises when the step already has another mixer (a second mixing layer
        in the same forward pass, or the train step of a model built on
        `kmix.models.MixingMixin` with its own `mixer`): one plan per step is
        all the labels can follow.
        """
        call_context = current_call_context()
        self._check_only_mixer(call_context, current_entry_layer())
        _context.set_record(
            _context.StepRecord(
                plan, self, self.num_classes, self.label_smoothing,
                call_context=call_context,
            )
        )
        _context.check_loss_reads_plan(self, current_entry_layer())

    def _check_only_mixer(self, call_context, model):
        """Raises if another mixer already mixes the images of this step."""
        where = f"model '{model.name}'" if getattr(model, "name", None) else "one model"
        previous = _context.get_record()
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
            and getattr(model, "_kmix_mixes_in_train_step", False)
            and mixer is not None
            and _context.in_mixing_step(model)
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
    def __call__(self, data, *args, **kwargs):
        # Keras refuses nested arguments that mix tensors and arrays; a dict of
        # NumPy labels and tensor images is a normal input here.
        def to_tensor(x):
            if isinstance(x, (np.ndarray, np.generic, int, float)):
                return tf.convert_to_tensor(x)
            return x

        if isinstance(data, Mapping):
            # Checked here too: Keras's own argument checks would otherwise
            # report the nested box dict first, less clearly.
            self._unpack(data, args[0] if args else None, args[1] if len(args) > 1 else None)
            data = {key: keras.tree.map_structure(to_tensor, value) for key, value in data.items()}
        elif isinstance(data, (tuple, list)):
            data = type(data)(keras.tree.map_structure(to_tensor, value) for value in data)
        args = tuple(to_tensor(a) for a in args)
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
                "partner": self.partner,
                "seed": self.seed,
                "data_format": self.data_format,
            }
        )
        return config
