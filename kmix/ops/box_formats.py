"""Bounding box formats: Keras's nine, converted to and from absolute `xyxy` (pure TF functions).

Keras names its formats in `keras.utils.bounding_boxes.convert_format`; kmix
reads the same names with TensorFlow ops alone, so the mixers' box handling
runs in `tf.data` under every Keras backend (tests check both agree).
"""

import tensorflow as tf

# Keras 3's formats, in the order its converter lists them.
BOX_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


def check_box_format(bounding_box_format, layer_name="The layer", allow_none=True):
    """Returns the format in lower case; raises naming the argument on an unknown one."""
    if bounding_box_format is None and allow_none:
        return None
    if not isinstance(bounding_box_format, str) or bounding_box_format.lower() not in BOX_FORMATS:
        raise ValueError(
            f"{layer_name}'s `bounding_box_format` must be one of Keras's formats "
            f"{BOX_FORMATS}. Received: bounding_box_format={bounding_box_format!r}"
        )
    return bounding_box_format.lower()


def missing_box_format_error(who, how="with its mask", to="the layer"):
    """The error for boxes given to a layer (`who`) that moves them (`how`) without their format."""
    return ValueError(
        f"{who} moves bounding boxes {how}, so it needs their format: pass "
        f"`bounding_box_format=` one of Keras's formats {BOX_FORMATS} to {to}. "
        "Received: bounding_box_format=None"
    )


def _split(boxes):
    return [boxes[..., i] for i in range(4)]


def _relative_scale(fmt, height, width):
    """The image size per coordinate of the absolute format `fmt` (what a `rel_` value is a fraction of)."""
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    return (h, w, h, w) if fmt == "yxyx" else (w, h, w, h)


def to_xyxy(boxes, bounding_box_format, height, width):
    """Boxes `(..., 4)` in `bounding_box_format` as absolute `(x1, y1, x2, y2)` pixels (float32).

    Args:
        boxes: tensor `(..., 4)`.
        bounding_box_format: one of `BOX_FORMATS`.
        height, width: the image size in pixels (ints or scalar tensors); the
            `rel_` formats are fractions of it.

    Returns:
        float32 tensor `(..., 4)`: left, top, right, bottom in pixels.
    """
    fmt = check_box_format(bounding_box_format, allow_none=False)
    boxes = tf.cast(boxes, tf.float32)
    a, b, c, d = _split(boxes)
    if fmt.startswith("rel_"):
        fmt = fmt[4:]
        scale = _relative_scale(fmt, height, width)
        a, b, c, d = a * scale[0], b * scale[1], c * scale[2], d * scale[3]
    if fmt == "xyxy":
        x1, y1, x2, y2 = a, b, c, d
    elif fmt == "yxyx":
        y1, x1, y2, x2 = a, b, c, d
    elif fmt == "xywh":
        x1, y1, x2, y2 = a, b, a + c, b + d
    elif fmt == "center_xywh":
        x1, y1, x2, y2 = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    else:  # center_yxhw
        x1, y1, x2, y2 = b - d / 2, a - c / 2, b + d / 2, a + c / 2
    return tf.stack([x1, y1, x2, y2], axis=-1)


def from_xyxy(boxes, bounding_box_format, height, width):
    """Absolute `(x1, y1, x2, y2)` pixel boxes `(..., 4)` in `bounding_box_format` (float32).

    The inverse of `to_xyxy`.
    """
    fmt = check_box_format(bounding_box_format, allow_none=False)
    x1, y1, x2, y2 = _split(tf.cast(boxes, tf.float32))
    relative = fmt.startswith("rel_")
    if relative:
        fmt = fmt[4:]
    if fmt == "xyxy":
        out = [x1, y1, x2, y2]
    elif fmt == "yxyx":
        out = [y1, x1, y2, x2]
    elif fmt == "xywh":
        out = [x1, y1, x2 - x1, y2 - y1]
    elif fmt == "center_xywh":
        out = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
    else:  # center_yxhw
        out = [(y1 + y2) / 2, (x1 + x2) / 2, y2 - y1, x2 - x1]
    if relative:
        out = [v / s for v, s in zip(out, _relative_scale(fmt, height, width))]
    return tf.stack(out, axis=-1)
