"""MixInputs: the input forms a mixing layer accepts, parsed, checked and packed back.

A mixing layer takes a dict (`{"images", "labels", "segmentation_masks", ...}`),
a tuple `(images, labels[, sample_weight])`, images and labels as two
arguments, or images alone, batched or one image. `MixInputs.parse` reads any
of them, `check` validates them (before any work) and `pack` returns the mixed
parts in the form they came in.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kmix._compat import in_model_mixing_error

from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_batch
from kmix.ops.validation import check_images
from kmix.ops.validation import check_same_batch

IMAGES = "images"
LABELS = "labels"
SEGMENTATION_MASKS = "segmentation_masks"
BOUNDING_BOXES = "bounding_boxes"


@dataclass(eq=False)
class MixInputs:
    """The parsed call arguments of a mixing layer: their form and their parts.

    Attributes:
        form: `"dict"`, `"tuple"`, `"args"` (images and labels as two
            arguments) or `"images"`.
        images: the images (rank 4 once `check` ran).
        labels: the labels, or None.
        segmentation_masks: the segmentation masks, or None.
        sample_weight: the sample weights, or None.
        data: the dict or tuple as given (extra dict keys pass through).
        single: whether one unbatched image was given.
    """

    form: str
    images: Any
    labels: Any = None
    segmentation_masks: Any = None
    sample_weight: Any = None
    data: Any = None
    single: bool = False

    @classmethod
    def parse(cls, layer_name, data, labels=None, sample_weight=None, boxes=False):
        """Reads the call arguments of the layer `layer_name`; raises on a bad form.

        With `boxes=False` a dict holding `bounding_boxes` is refused.
        """
        if isinstance(data, Mapping):
            if labels is not None or sample_weight is not None:
                raise ValueError(
                    f"{layer_name} takes either a dict or (images, labels) as "
                    "arguments, not both. Received: a dict and a second "
                    "positional argument"
                )
            if IMAGES not in data:
                raise ValueError(
                    f"A dict input to {layer_name} must have an '{IMAGES}' key. "
                    f"Received keys: {sorted(data.keys())}"
                )
            if BOUNDING_BOXES in data and not boxes:
                raise ValueError(
                    f"`{BOUNDING_BOXES}` are not supported by {layer_name}. "
                    "MixUp, CutMix, FMix, ResizeMix, MaskMix and Mosaic mix "
                    "detection boxes (RandomMixChoice too, when all its members "
                    "do); remove the key or use one of them. "
                    "Received keys: "
                    f"{sorted(data.keys())}"
                )
            return cls(
                "dict", data[IMAGES], data.get(LABELS), data.get(SEGMENTATION_MASKS),
                data=data,
            )
        if isinstance(data, (tuple, list)):
            if labels is not None:
                raise ValueError(
                    f"{layer_name} takes either a tuple (images, labels) or "
                    "images and labels as two arguments, not both."
                )
            if len(data) not in (2, 3):
                raise ValueError(
                    f"A tuple input to {layer_name} must be (images, labels) or "
                    "(images, labels, sample_weight). Received: a tuple of "
                    f"length {len(data)}"
                )
            weight = data[2] if len(data) == 3 else None
            return cls("tuple", data[0], data[1], sample_weight=weight, data=data)
        if labels is not None:
            return cls("args", data, labels, sample_weight=sample_weight)
        if sample_weight is not None:
            raise ValueError(f"{layer_name} received `sample_weight` without labels.")
        return cls("images", data)

    def check(self, data_format, any_rank=False):
        """All checks, before any work; makes the parts rank-4 tensors.

        With `any_rank`, the inputs are a batch `(B, ...)` of any rank (never a
        single example), and segmentation masks are refused.

        Returns:
            A list of assertion ops (batch sizes known only at run time) that
            the mixing must depend on.
        """
        name = IMAGES if self.form == "dict" else "images"
        if any_rank:
            images, single = check_batch(self.images, name), False
            if self.segmentation_masks is not None:
                raise ValueError(
                    "`segmentation_masks` go with images: a layer mixing inputs of "
                    "any rank (any_rank=True) does not take them. Received: "
                    "segmentation_masks"
                )
        else:
            images, single = check_images(self.images, name=name)
        if not (images.dtype.is_floating or images.dtype.is_integer):
            raise TypeError(
                f"`images` must have a real or integer dtype. "
                f"Received: images.dtype={images.dtype.name}"
            )
        self.images = images
        self.single = single
        deps = []
        if self.labels is not None:
            labels = tf.convert_to_tensor(self.labels)
            if single:
                labels = labels[None]
            deps += check_same_batch(images, labels)
            self.labels = labels
        if self.segmentation_masks is not None:
            masks = tf.convert_to_tensor(self.segmentation_masks)
            if single:
                masks = masks[None]
            deps += check_same_batch(images, masks, (IMAGES, SEGMENTATION_MASKS))
            spatial_axes = (2, 3) if data_format == "channels_first" else (1, 2)
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
            self.segmentation_masks = masks
        return deps

    def pack(self, images, labels, masks, boxes=None):
        """The mixed parts in the form the inputs came in."""
        if self.single:
            images = images[0]
            labels = labels[0] if labels is not None else None
            masks = masks[0] if masks is not None else None
        if self.form == "dict":
            out = dict(self.data)
            out[IMAGES] = images
            if labels is not None:
                out[LABELS] = labels
            if masks is not None:
                out[SEGMENTATION_MASKS] = masks
            if boxes is not None:
                out[BOUNDING_BOXES] = boxes
            return out
        if self.form in ("tuple", "args"):
            if self.sample_weight is not None:
                return (images, labels, self.sample_weight)
            return (images, labels)
        return images


def unchanged(data, labels=None, sample_weight=None):
    """The call arguments returned as they came (outside training)."""
    if labels is None and sample_weight is None:
        return data
    if sample_weight is None:
        return (data, labels)
    return (data, labels, sample_weight)


def _to_tensor(x):
    if isinstance(x, (np.ndarray, np.generic, int, float)):
        return tf.convert_to_tensor(x)
    return x


def as_tensors(data, args):
    """The call arguments with NumPy arrays and Python numbers as tensors.

    Keras refuses nested arguments that mix tensors and arrays; a dict of NumPy
    labels and tensor images is a normal input of a mixing layer.
    """
    if isinstance(data, Mapping):
        data = {key: keras.tree.map_structure(_to_tensor, value) for key, value in data.items()}
    elif isinstance(data, (tuple, list)):
        data = type(data)(keras.tree.map_structure(_to_tensor, value) for value in data)
    else:
        data = _to_tensor(data)
    return data, tuple(_to_tensor(a) for a in args)


def call_with_tensorflow_ops(layer, data, args, kwargs):
    """`layer.call` on TensorFlow inputs under another Keras backend; raises on the backend's own arrays.

    Under another backend a tf.data pipeline (a traced TensorFlow graph) is
    where a mixer runs: as Keras's own tf.data preprocessing layers, it computes
    with TensorFlow ops there, bypassing Keras's call machinery, which converts
    the inputs to the backend's arrays. TensorFlow (or NumPy) inputs run with
    TensorFlow ops, eagerly too; the backend's own arrays or symbolic tensors
    mean the layer sits in a model of that backend: refused.
    """
    flat = keras.tree.flatten(data)
    first = flat[0] if flat else None
    if tf.is_tensor(first) and not isinstance(first, keras.KerasTensor):
        return layer.call(data, *args, **kwargs)
    raise in_model_mixing_error(
        f"{type(layer).__name__} called on {type(first).__name__} inputs (inside a "
        f"{keras.backend.backend()} model)"
    )
