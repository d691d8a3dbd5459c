"""Detection boxes of a mixed batch: checks and the partner's boxes (pure functions)."""

from collections.abc import Mapping

import numpy as np
import tensorflow as tf


def _as_tensor(value):
    if isinstance(value, tf.RaggedTensor):
        return value
    if isinstance(value, (list, tuple)) and value and not np.isscalar(value[0]):
        try:
            return tf.ragged.constant(value)
        except (ValueError, TypeError):
            pass
    return tf.convert_to_tensor(value)


def _shape(value):
    return tuple(value.shape.as_list()) if hasattr(value, "shape") else type(value).__name__


def check_bounding_boxes(bounding_boxes, batch_size=None, layer_name="The layer"):
    """Checks a batch's `bounding_boxes` dict (Keras's format) and returns it as tensors.

    Args:
        bounding_boxes: dict with `"boxes"` `(B, N, 4)` and `"labels"` `(B, N)`,
            dense (rows padded with -1, as Keras pads them) or both
            `tf.RaggedTensor` (`(B, None, 4)` and `(B, None)`). The coordinates
            may be in any `bounding_box_format` Keras supports: they are moved
            as they are, never converted.
        batch_size: optional int or scalar tensor `B` of the images.
        layer_name: str, for the error messages.

    Returns:
        `{"boxes", "labels"}` as tensors (ragged where given ragged).
    """
    if not isinstance(bounding_boxes, Mapping) or set(bounding_boxes) != {"boxes", "labels"}:
        keys = sorted(bounding_boxes) if isinstance(bounding_boxes, Mapping) else type(bounding_boxes).__name__
        raise ValueError(
            f"{layer_name}'s `bounding_boxes` must be a dict with the keys 'boxes' "
            "(B, N, 4) and 'labels' (B, N), Keras's format (rows padded with -1, or "
            f"ragged). Received: {keys}"
        )
    boxes = _as_tensor(bounding_boxes["boxes"])
    labels = _as_tensor(bounding_boxes["labels"])
    ragged = isinstance(boxes, tf.RaggedTensor), isinstance(labels, tf.RaggedTensor)
    if ragged[0] != ragged[1]:
        raise ValueError(
            f"{layer_name}'s bounding boxes and their labels must be both dense "
            "(padded with -1) or both ragged. Received: boxes "
            f"{'ragged' if ragged[0] else 'dense'} and labels {'ragged' if ragged[1] else 'dense'}"
        )
    if boxes.shape.rank != 3 or boxes.shape[-1] != 4 or labels.shape.rank != 2:
        raise ValueError(
            f"{layer_name}'s bounding boxes must be a batch: 'boxes' (B, N, 4) and "
            f"'labels' (B, N). Received: boxes.shape={_shape(boxes)} and "
            f"labels.shape={_shape(labels)}"
        )
    for name, value in (("boxes", boxes), ("labels", labels)):
        if not (value.dtype.is_floating or value.dtype.is_integer):
            raise TypeError(
                f"{layer_name}'s bounding box '{name}' must be numbers. Received: "
                f"dtype={value.dtype.name}"
            )
    if not ragged[0]:
        if boxes.shape[1] is not None and labels.shape[1] is not None and boxes.shape[1] != labels.shape[1]:
            raise ValueError(
                f"{layer_name}'s bounding boxes need one label per box. Received: "
                f"boxes.shape={_shape(boxes)} and labels.shape={_shape(labels)}"
            )
    rows = boxes.shape[0]
    if isinstance(batch_size, int) and rows is not None and rows != batch_size:
        raise ValueError(
            f"{layer_name}'s bounding boxes must have one row per image. Received: "
            f"{rows} rows of boxes for {batch_size} images"
        )
    return {"boxes": boxes, "labels": labels}


def keep_both_boxes(bounding_boxes, index):
    """Every row keeps its own boxes and gains its partner's (MixUp: both images show).

    Args:
        bounding_boxes: checked `{"boxes", "labels"}` (`check_bounding_boxes`).
        index: int `(B,)`, each row's partner (the plan's `index`).

    Returns:
        `{"boxes": (B, 2N, 4), "labels": (B, 2N)}`: the row's own boxes first,
        then its partner's, padding (-1) kept in place; ragged stays ragged.
        Keras core's `MixUp` (3.15) concatenates the box labels along the batch
        axis instead, so its labels no longer line up with its boxes.
    """
    out = {}
    for key, value in bounding_boxes.items():
        out[key] = tf.concat([value, tf.gather(value, index)], axis=1)
    return out
