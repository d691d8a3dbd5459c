"""Detection boxes of a mixed batch: checks, both images' boxes, boxes seen through a mask (pure functions)."""

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from kmix.ops.box_formats import from_xyxy
from kmix.ops.box_formats import to_xyxy
from kmix.ops.mosaic import quadrant_masks


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


def _pixel_span(low, high, size):
    """The pixels `[first, end)` whose centres lie in `[low, high]` (at least the centre's pixel).

    Returns the span clipped to the image (int32) and its full length (float32,
    pixels outside the image included).
    """
    first = tf.math.ceil(low - 0.5)
    end = tf.math.floor(high - 0.5) + 1.0
    centre = tf.math.floor((low + high) / 2.0)
    empty = end <= first
    first = tf.where(empty, centre, first)
    end = tf.where(empty, centre + 1.0, end)
    size = tf.cast(size, tf.float32)
    length = end - first
    first = tf.clip_by_value(first, 0.0, size)
    end = tf.clip_by_value(end, 0.0, size)
    return tf.cast(first, tf.int32), tf.cast(end, tf.int32), length


def visible_part(xyxy, visible):
    """How much of each box shows, and the box clipped to the pixels that show.

    A box covers the pixels whose centres lie inside it (a box smaller than a
    pixel covers the pixel holding its centre). Counting uses an integral image
    (four reads per box); the clip uses, per box, how many visible pixels each
    of its columns and rows holds (prefix sums along the other axis), so every
    shape is static and the work is `O(B * N * (H + W))` beyond one pass over
    the mask.

    Args:
        xyxy: float32 `(B, N, 4)`, absolute `(x1, y1, x2, y2)` pixels.
        visible: `(B, H, W)`, 1 where the boxes' image shows, else 0.

    Returns:
        `(fraction, clipped)`: float32 `(B, N)`, the share of each box's pixels
        that show (pixels outside the image count as hidden); float32 `(B, N, 4)`, each box shrunk to the smallest box
        holding its visible pixels (edges that show stay where they were;
        boxes with nothing visible are returned unchanged).
    """
    visible = tf.cast(tf.cast(visible, tf.bool), tf.int32)
    shape = tf.shape(visible)
    batch, height, width = shape[0], shape[1], shape[2]
    x1, y1, x2, y2 = (xyxy[..., i] for i in range(4))
    c0, c1, box_width = _pixel_span(x1, x2, width)
    r0, r1, box_height = _pixel_span(y1, y2, height)

    # Visible pixels per box from the integral image (exact in int32).
    integral = tf.pad(tf.cumsum(tf.cumsum(visible, axis=1), axis=2), [[0, 0], [1, 0], [1, 0]])
    flat = tf.reshape(integral, tf.stack([batch, -1]))
    stride = width + 1

    def at(r, c):
        return tf.gather(flat, r * stride + c, batch_dims=1)

    count = at(r1, c1) - at(r0, c1) - at(r1, c0) + at(r0, c0)
    # The share of the whole box: its pixels outside the image do not show.
    fraction = tf.math.divide_no_nan(tf.cast(count, tf.float32), box_width * box_height)

    def extent(prefix, lo, hi, first, end, size):
        # prefix: (B, S + 1, L) sums along the box's other axis; lo/hi pick
        # the box's span there, first/end its span along L.
        per_line = tf.gather(prefix, hi, batch_dims=1) - tf.gather(prefix, lo, batch_dims=1)
        lines = tf.range(size)
        inside = (per_line > 0) & (lines >= first[..., None]) & (lines < end[..., None])
        low = tf.reduce_min(tf.where(inside, lines, size), axis=-1)
        high = tf.reduce_max(tf.where(inside, lines, -1), axis=-1) + 1
        return tf.cast(low, tf.float32), tf.cast(high, tf.float32)

    down = tf.pad(tf.cumsum(visible, axis=1), [[0, 0], [1, 0], [0, 0]])  # (B, H + 1, W)
    across = tf.pad(tf.cumsum(visible, axis=2), [[0, 0], [0, 0], [1, 0]])  # (B, H, W + 1)
    col_low, col_high = extent(down, r0, r1, c0, c1, width)
    row_low, row_high = extent(tf.transpose(across, [0, 2, 1]), c0, c1, r0, r1, height)
    shows = count > 0
    clipped = tf.stack(
        [
            tf.where(shows, tf.maximum(x1, col_low), x1),
            tf.where(shows, tf.maximum(y1, row_low), y1),
            tf.where(shows, tf.minimum(x2, col_high), x2),
            tf.where(shows, tf.minimum(y2, row_high), y2),
        ],
        axis=-1,
    )
    return fraction, clipped


def boxes_through_mask(
    bounding_boxes,
    mask,
    index,
    bounding_box_format,
    image_size,
    min_visibility=0.1,
    paste_boxes=None,
):
    """The boxes of a batch mixed by a pixel mask: own boxes where they stay seen, the partner's where they show.

    A pixel shows the row's own image where `mask >= 0.5` and the partner's
    elsewhere (binary masks: exactly the pasted pixels). Every row keeps its own
    boxes that stay visible and gains its partner's boxes that show through
    the pasted region, each kept when at least `min_visibility` of its pixels
    show, and clipped to the smallest box holding them.

    Args:
        bounding_boxes: checked `{"boxes", "labels"}` (`check_bounding_boxes`),
            dense (padding rows labelled -1) or ragged.
        mask: `(B, H, W, 1)` or `(B, H, W)`, the plan's own-pixel mask.
        index: int `(B,)`, each row's partner.
        bounding_box_format: one of Keras's formats (`kmix.ops.box_formats`).
        image_size: `(height, width)` of the images.
        min_visibility: float in `[0, 1]`; a box is kept when this share of it
            shows (and at least one pixel does).
        paste_boxes: optional int `(B, 4)` `(y_low, y_high, x_low, x_high)`:
            the partner image was resized whole into this box (ResizeMix); its
            boxes are mapped there first.

    Returns:
        `{"boxes": (B, 2N, 4), "labels": (B, 2N)}`: own boxes, then the
        partner's, in the input format; a dropped box becomes a padding row
        (-1 box and label) in place, or is removed when the input was ragged.
        Floating coordinates keep their dtype; integer ones come back float32.
    """
    boxes, labels, padding, ragged, out_dtype = dense_boxes(bounding_boxes)
    height, width = image_size
    mask = tf.convert_to_tensor(mask)
    if mask.shape.rank == 4:
        mask = mask[..., 0]
    mask = tf.broadcast_to(
        tf.cast(mask, tf.float32), tf.stack([tf.shape(mask)[0], height, width])
    )
    own_shows = mask >= 0.5
    xyxy = to_xyxy(boxes, bounding_box_format, height, width)

    partner_xyxy = tf.gather(xyxy, index)
    if paste_boxes is not None:
        paste = tf.cast(paste_boxes, tf.float32)[:, None, :]
        y0, y1, x0, x1 = (paste[..., i] for i in range(4))
        sx = (x1 - x0) / tf.cast(width, tf.float32)
        sy = (y1 - y0) / tf.cast(height, tf.float32)
        partner_xyxy = tf.stack(
            [
                x0 + partner_xyxy[..., 0] * sx,
                y0 + partner_xyxy[..., 1] * sy,
                x0 + partner_xyxy[..., 2] * sx,
                y0 + partner_xyxy[..., 3] * sy,
            ],
            axis=-1,
        )

    sources = [
        (xyxy, labels, padding, own_shows),
        (partner_xyxy, tf.gather(labels, index), tf.gather(padding, index), ~own_shows),
    ]
    return _seen_boxes(sources, bounding_box_format, image_size, min_visibility, out_dtype, ragged)


def dense_boxes(bounding_boxes):
    """`(boxes, labels, padding, ragged, out_dtype)` of a checked box dict; ragged rows padded with -1."""
    boxes, labels = bounding_boxes["boxes"], bounding_boxes["labels"]
    ragged = isinstance(boxes, tf.RaggedTensor)
    if ragged:
        boxes = boxes.to_tensor(default_value=-1)
        labels = labels.to_tensor(default_value=-1)
    out_dtype = boxes.dtype if boxes.dtype.is_floating else tf.float32
    padding = tf.equal(labels, tf.cast(-1, labels.dtype))
    return boxes, labels, padding, ragged, out_dtype


def _seen_boxes(sources, bounding_box_format, image_size, min_visibility, out_dtype, ragged):
    """Concatenates, source by source, the boxes that show enough, clipped; the rest become -1 rows (or go, ragged)."""
    height, width = image_size
    out_boxes, out_labels = [], []
    for xyxy, labels, padding, shows in sources:
        fraction, clipped = visible_part(xyxy, shows)
        keep = (~padding) & (fraction > 0.0) & (fraction >= min_visibility)
        out = tf.cast(from_xyxy(clipped, bounding_box_format, height, width), out_dtype)
        out_boxes.append(tf.where(keep[..., None], out, tf.cast(-1, out_dtype)))
        out_labels.append(tf.where(keep, labels, tf.cast(-1, labels.dtype)))
    return restore_form(tf.concat(out_boxes, axis=1), tf.concat(out_labels, axis=1), ragged)


def restore_form(boxes, labels, ragged):
    """Mixed dense boxes in the form they came: as they are, or ragged without their -1 rows."""
    if not ragged:
        return {"boxes": boxes, "labels": labels}
    keep = tf.not_equal(labels, tf.cast(-1, labels.dtype))
    return {"boxes": tf.ragged.boolean_mask(boxes, keep), "labels": tf.ragged.boolean_mask(labels, keep)}


def mosaic_boxes(bounding_boxes, order, centres, bounding_box_format, image_size, min_visibility=0.0):
    """The boxes of a mosaic batch: each of the four images' boxes moved into its quadrant, kept where they show.

    Args:
        bounding_boxes: checked `{"boxes", "labels"}`, dense or ragged.
        order: int `(B, 4)`, the rows shown top-left, top-right, bottom-left,
            bottom-right (`kmix.ops.mosaic`).
        centres: int `(B, 2)`, the mosaic centre `(cy, cx)` in pixels.
        bounding_box_format: one of Keras's formats.
        image_size: `(height, width)`.
        min_visibility: the share of a moved box that must show (at least one
            pixel always must).

    Returns:
        `{"boxes": (B, 4N, 4), "labels": (B, 4N)}`, quadrant by quadrant.
    """
    boxes, labels, padding, ragged, out_dtype = dense_boxes(bounding_boxes)
    height, width = image_size
    xyxy = to_xyxy(boxes, bounding_box_format, height, width)
    cy = tf.cast(centres[:, 0], tf.float32)[:, None]
    cx = tf.cast(centres[:, 1], tf.float32)[:, None]
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    shifts = [(cx - w, cy - h), (cx, cy - h), (cx - w, cy), (cx, cy)]
    masks = quadrant_masks(centres, height, width)
    sources = []
    for q, (dx, dy) in enumerate(shifts):
        rows = order[:, q]
        moved = tf.gather(xyxy, rows) + tf.stack([dx, dy, dx, dy], axis=-1)
        sources.append((moved, tf.gather(labels, rows), tf.gather(padding, rows), masks[q]))
    return _seen_boxes(sources, bounding_box_format, image_size, min_visibility, out_dtype, ragged)
