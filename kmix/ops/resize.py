"""ResizeMix geometry: boxes of a scale and the whole partner resized into them.

Everything here keeps static shapes: instead of resizing a partner to a box of
data-dependent size, every output pixel inside the box reads its nearest (or
its four bilinear) source pixels of the partner with one coordinate gather for
the whole batch. It compiles under XLA and runs in `tf.data`.
"""

import tensorflow as tf

from kmix.ops.masks import box_from_side_ratio
from kmix.ops.sampling import sample_int
from kmix.ops.seeds import split_seed
from kmix.ops.validation import check_one_of
from kmix.ops.validation import check_data_format

INTERPOLATIONS = ("nearest", "bilinear")


def _static_or_dynamic(x, axis):
    size = x.shape[axis]
    return size if size is not None else tf.shape(x)[axis]


def resize_boxes(tau, center_y, center_x, height, width):
    """ResizeMix boxes for a given scale and centre (no randomness).

    clovaai `rand_bbox` style, as openmixup's `rand_bbox_tao`:
    `cut = floor(side * tau)` per axis and the box
    `[center - cut // 2, center + cut // 2)` clipped to `[0, side]`.

    Args:
        tau: float tensor `(B,)`, the side ratio of the box.
        center_y, center_x: int tensors `(B,)`.
        height, width: ints (or scalar int tensors) `H`, `W`.

    Returns:
        int32 tensor `(B, 4)`: `(y_low, y_high, x_low, x_high)`.

    Example:

    ```python
    import kmix.ops.resize as resize

    box = resize.resize_boxes([0.5], [2], [16], 32, 32)
    print(box.numpy().tolist())  # [[0, 10, 8, 24]]
    ```
    """
    return box_from_side_ratio(tau, center_y, center_x, height, width)


def sample_resize_boxes(tau, height, width, seed):
    """ResizeMix boxes with a centre uniform over all pixels.

    Args:
        tau: float tensor `(B,)`, the side ratio of each box.
        height, width: ints `H`, `W`.
        seed: `(2,)` int seed tensor.

    Returns:
        int32 tensor `(B, 4)`: `(y_low, y_high, x_low, x_high)`, see `resize_boxes`.
    """
    shape = tf.shape(tau)
    seed_y, seed_x = split_seed(seed, 2)
    center_y = sample_int(shape, seed_y, height)
    center_x = sample_int(shape, seed_x, width)
    return resize_boxes(tau, center_y, center_x, height, width)


def boxes_from_mask(mask):
    """The bounding box of the pasted pixels (`mask < 0.5`) of every row.

    ResizeMix derives its paste box from the plan's mask, so that a plan alone
    determines the mixed images.

    Args:
        mask: float tensor `(B, H, W, 1)` (or `(B, H, W)`), the own-pixel mask.

    Returns:
        int32 tensor `(B, 4)`: `(y_low, y_high, x_low, x_high)`, half-open; all
        zeros for a row where nothing is pasted.
    """
    mask = tf.convert_to_tensor(mask)
    if mask.shape.rank == 4:
        mask = mask[..., 0]
    pasted = tf.cast(mask, tf.float32) < 0.5
    rows = tf.reduce_any(pasted, axis=2)  # (B, H)
    cols = tf.reduce_any(pasted, axis=1)  # (B, W)

    def first_and_end(flags):
        size = tf.shape(flags)[1]
        as_int = tf.cast(flags, tf.int32)
        first = tf.argmax(as_int, axis=1, output_type=tf.int32)
        last_from_end = tf.argmax(tf.reverse(as_int, axis=[1]), axis=1, output_type=tf.int32)
        any_ = tf.reduce_any(flags, axis=1)
        zero = tf.zeros_like(first)
        return tf.where(any_, first, zero), tf.where(any_, size - last_from_end, zero)

    yl, yh = first_and_end(rows)
    xl, xh = first_and_end(cols)
    return tf.stack([yl, yh, xl, xh], axis=-1)


def _source_coordinates(low, high, size, interpolation):
    """For each output position `0..size-1`, where it reads in the source axis.

    PyTorch `F.interpolate(input, (out_h, out_w), mode=...)` semantics for a
    source of length `size` resized to `out = high - low` positions placed at
    `low`: nearest reads `min(floor(dst * scale), size - 1)` with the float32
    `scale = size / out` (PyTorch's `nearest_idx`); bilinear
    (`align_corners=False`, no antialiasing) reads
    `src = max((dst + 0.5) * scale - 0.5, 0)` between `floor(src)` and the next
    pixel. Positions outside the box read as the nearest box edge.
    """
    out = tf.maximum(high - low, 1)[:, None]
    dst = tf.range(size, dtype=tf.int32)[None, :] - low[:, None]
    dst = tf.clip_by_value(dst, 0, out - 1)
    size_f = tf.cast(size, tf.float32)
    scale = size_f / tf.cast(out, tf.float32)
    if interpolation == "nearest":
        src = tf.cast(tf.floor(tf.cast(dst, tf.float32) * scale), tf.int32)
        return tf.minimum(src, size - 1), None, None
    src = tf.maximum((tf.cast(dst, tf.float32) + 0.5) * scale - 0.5, 0.0)
    low_src = tf.minimum(tf.cast(tf.floor(src), tf.int32), size - 1)
    high_src = tf.minimum(low_src + 1, size - 1)
    weight = src - tf.cast(low_src, tf.float32)
    return low_src, high_src, weight


def resized_partner(images, index, boxes, interpolation="nearest", data_format="channels_last"):
    """The whole partner image of every row resized into that row's box.

    Row `i` of the result shows, inside `boxes[i]`, the image `images[index[i]]`
    resized to the box size (PyTorch `F.interpolate` semantics, see below), as
    ResizeMix pastes it. Outside the box the values repeat the box edge; they
    are meant to be masked out by the plan's mask. The box size varies per row
    and per batch, yet shapes stay static: one gather reads, for every output
    pixel, its source pixel in the partner.

    Nearest: source index `min(floor(dst * scale), size - 1)` with the float32
    `scale = size / box_size` (PyTorch `mode="nearest"`; in rare sizes this
    differs by one pixel from the exact rational `floor(dst * size / box)`).
    Bilinear: PyTorch `mode="bilinear", align_corners=False` without
    antialiasing (four gathers).

    Args:
        images: tensor `(B, H, W, C)` (`(B, C, H, W)` with
            `data_format="channels_first"`) or `(B, H, W)` (e.g. segmentation
            class ids), any dtype.
        index: int tensor `(B,)`, the partner of every row.
        boxes: int tensor `(B, 4)`, `(y_low, y_high, x_low, x_high)` half-open.
        interpolation: `"nearest"` or `"bilinear"` (computed in float32, then
            cast back; rounded for integer dtypes, as PyTorch does for uint8).
        data_format: `"channels_last"` or `"channels_first"` (rank 4 only).

    Returns:
        Tensor of the shape and dtype of `images`.

    Example:

    ```python
    import tensorflow as tf
    import kmix.ops.resize as resize

    images = tf.reshape(tf.range(2 * 4 * 4, dtype=tf.float32), [2, 4, 4, 1])
    out = resize.resized_partner(images, [1, 0], [[0, 2, 0, 2], [0, 4, 0, 4]])
    print(out[0, :2, :2, 0].numpy().tolist())  # [[16.0, 18.0], [24.0, 26.0]]
    ```
    """
    check_one_of(interpolation, "interpolation", INTERPOLATIONS)
    check_data_format(data_format)
    images = tf.convert_to_tensor(images)
    rank = images.shape.rank
    if rank not in (3, 4):
        raise ValueError(
            "`images` must have shape (B, H, W, C), (B, C, H, W) or (B, H, W). "
            f"Received: images.shape={tuple(images.shape)}"
        )
    x = images
    if rank == 3:
        x = x[..., None]
    elif data_format == "channels_first":
        x = tf.transpose(x, [0, 2, 3, 1])
    height = _static_or_dynamic(x, 1)
    width = _static_or_dynamic(x, 2)
    channels = _static_or_dynamic(x, 3)
    index = tf.cast(index, tf.int32)
    boxes = tf.cast(boxes, tf.int32)
    flat = tf.reshape(x, tf.stack([-1, channels]))
    y0, y1, wy = _source_coordinates(boxes[:, 0], boxes[:, 1], height, interpolation)
    x0, x1, wx = _source_coordinates(boxes[:, 2], boxes[:, 3], width, interpolation)

    def gather(src_y, src_x):
        # Flat pixel of (partner, src_y, src_x) for every output pixel: (B, H, W).
        rows = (index[:, None] * height + src_y)[:, :, None] * width
        return tf.gather(flat, rows + src_x[:, None, :])

    if interpolation == "nearest":
        out = gather(y0, x0)
    else:
        wy = wy[:, :, None, None]
        wx = wx[:, None, :, None]
        top = (1.0 - wx) * tf.cast(gather(y0, x0), tf.float32) + wx * tf.cast(
            gather(y0, x1), tf.float32
        )
        bottom = (1.0 - wx) * tf.cast(gather(y1, x0), tf.float32) + wx * tf.cast(
            gather(y1, x1), tf.float32
        )
        out = (1.0 - wy) * top + wy * bottom
        if images.dtype.is_integer:
            out = tf.round(out)  # as PyTorch's uint8 interpolate
        out = tf.cast(out, images.dtype)
    if rank == 3:
        return out[..., 0]
    if data_format == "channels_first":
        return tf.transpose(out, [0, 3, 1, 2])
    return out


__all__ = [
    "INTERPOLATIONS",
    "boxes_from_mask",
    "resize_boxes",
    "resized_partner",
    "sample_resize_boxes",
]
