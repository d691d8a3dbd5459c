"""SnapMix's pieces: class activation maps, the box-to-box paste and the CAM label weights.

Everything keeps static shapes and compiles under XLA: the boxes have
data-dependent sizes, so nothing is cropped; every output pixel reads its
source pixels with one gather over the whole batch.
"""

import tensorflow as tf

from kmix.ops.masks import box_mask


def class_activation_maps(features, kernel, bias, class_ids, height, width):
    """Normalised class activation maps (CAMs) of each row's class, at image size.

    SnapMix's `get_spm`: `relu(features)`, a 1x1 convolution with the
    classifier's kernel and bias (the classifier reads the global average of
    these features), the map of each row's class, bilinearly upsampled to
    `(height, width)` (PyTorch `F.interpolate(mode="bilinear",
    align_corners=False)`, which is `tf.image.resize` bilinear with half-pixel
    centres and no antialiasing), then the map's minimum subtracted and the
    map divided by its sum. A constant map has no sum left: it becomes NaN,
    as in the official code (SnapMix's label weights then fall back to the
    box area).

    Args:
        features: float tensor `(B, h, w, C)`, the feature map.
        kernel: float tensor `(C, K)`, the classifier's kernel.
        bias: float tensor `(K,)` or `None`.
        class_ids: int tensor `(B,)`, the class of every row.
        height, width: ints, the image size `H`, `W`.

    Returns:
        float32 tensor `(B, H, W)`: non-negative, each map sums to 1.

    Example:

    ```python
    import numpy as np
    from kmix.ops.class_activation import class_activation_maps

    features = np.random.default_rng(0).random((2, 4, 4, 3)).astype("float32")
    cams = class_activation_maps(features, np.eye(3, 2), np.zeros(2), [0, 1], 16, 16)
    print(cams.shape, np.round(cams.numpy().sum(axis=(1, 2)), 4).tolist())  # (2, 16, 16) [1.0, 1.0]
    ```
    """
    features = tf.nn.relu(tf.cast(features, tf.float32))
    kernel = tf.cast(kernel, tf.float32)
    columns = tf.transpose(tf.gather(tf.transpose(kernel), tf.cast(class_ids, tf.int32)))  # (C, B)
    maps = tf.einsum("bhwc,cb->bhw", features, columns)
    if bias is not None:
        maps = maps + tf.gather(tf.cast(bias, tf.float32), tf.cast(class_ids, tf.int32))[:, None, None]
    maps = tf.image.resize(maps[..., None], (height, width), method="bilinear", antialias=False)
    maps = maps[..., 0]
    maps = maps - tf.reduce_min(maps, axis=[1, 2], keepdims=True)
    return maps / tf.reduce_sum(maps, axis=[1, 2], keepdims=True)


def _aligned_sources(dest_low, dest_high, src_low, src_high, size):
    """Per output position `0..size-1`: its two source positions and the weight.

    PyTorch `F.interpolate(mode="bilinear", align_corners=True)` of the source
    range `[src_low, src_high)` to `dest_high - dest_low` positions placed at
    `dest_low`: `src = dst * (in - 1) / (out - 1)` (0 when `out == 1`), read
    between `floor(src)` and the next position (clamped to the range).
    Positions outside the destination read as its nearest edge.
    """
    out = tf.maximum(dest_high - dest_low, 1)[:, None]
    length = tf.maximum(src_high - src_low, 1)[:, None]
    dst = tf.clip_by_value(tf.range(size, dtype=tf.int32)[None, :] - dest_low[:, None], 0, out - 1)
    scale = tf.where(
        out > 1,
        tf.cast(length - 1, tf.float32) / tf.cast(tf.maximum(out - 1, 1), tf.float32),
        0.0,
    )
    src = scale * tf.cast(dst, tf.float32)
    low = tf.minimum(tf.cast(tf.floor(src), tf.int32), length - 1)
    high = tf.minimum(low + 1, length - 1)
    weight = tf.clip_by_value(src - tf.cast(low, tf.float32), 0.0, 1.0)
    return low + src_low[:, None], high + src_low[:, None], weight


def paste_boxes(images, index, boxes, source_boxes, nearest=False):
    """Each row's partner box, bilinearly resized (align corners) into the row's own box.

    Row `i` of the result shows, inside `boxes[i]`, the region
    `source_boxes[i]` of the partner `images[index[i]]` resized to the size
    of `boxes[i]` (SnapMix: `F.interpolate(..., mode="bilinear",
    align_corners=True)`). Outside `boxes[i]` the values repeat the box edge;
    they are meant to be masked out. No crop of data-dependent size is made:
    every output pixel gathers its four source pixels.

    Args:
        images: float tensor `(B, H, W, C)` (or `(B, H, W)`).
        index: int tensor `(B,)`, the partner of every row.
        boxes: int tensor `(B, 4)`, `(y_low, y_high, x_low, x_high)` half-open:
            where each row receives the paste.
        source_boxes: int tensor `(B, 4)`, the same form: the region of the
            partner that is pasted. Both boxes of a row must be non-empty for
            the result to mean anything there.
        nearest: bool. Read the nearer of the two bilinear neighbours per axis
            instead of blending (segmentation class ids).

    Returns:
        Tensor of the shape and dtype of `images`.

    Example:

    ```python
    import tensorflow as tf
    from kmix.ops.class_activation import paste_boxes

    images = tf.reshape(tf.range(2 * 4 * 4, dtype=tf.float32), [2, 4, 4, 1])
    out = paste_boxes(images, [1, 0], [[0, 3, 0, 3], [0, 4, 0, 4]], [[0, 2, 0, 2], [0, 4, 0, 4]])
    print(out[0, :3, :3, 0].numpy().tolist())
    # [[16.0, 16.5, 17.0], [18.0, 18.5, 19.0], [20.0, 20.5, 21.0]]
    ```
    """
    images = tf.convert_to_tensor(images)
    rank = images.shape.rank
    x = images[..., None] if rank == 3 else images
    shape = tf.shape(x)
    height = x.shape[1] if x.shape[1] is not None else shape[1]
    width = x.shape[2] if x.shape[2] is not None else shape[2]
    channels = x.shape[3] if x.shape[3] is not None else shape[3]
    index = tf.cast(index, tf.int32)
    boxes = tf.cast(boxes, tf.int32)
    source_boxes = tf.cast(source_boxes, tf.int32)
    y0, y1, wy = _aligned_sources(boxes[:, 0], boxes[:, 1], source_boxes[:, 0], source_boxes[:, 1], height)
    x0, x1, wx = _aligned_sources(boxes[:, 2], boxes[:, 3], source_boxes[:, 2], source_boxes[:, 3], width)
    flat = tf.reshape(x, tf.stack([-1, channels]))

    def gather(src_y, src_x):
        rows = (index[:, None] * height + src_y)[:, :, None] * width
        return tf.cast(tf.gather(flat, rows + src_x[:, None, :]), tf.float32)

    if nearest:
        src_y = tf.where(wy >= 0.5, y1, y0)
        src_x = tf.where(wx >= 0.5, x1, x0)
        out = tf.cast(gather(src_y, src_x), images.dtype)
    else:
        wy = wy[:, :, None, None]
        wx = wx[:, None, :, None]
        top = (1.0 - wx) * gather(y0, x0) + wx * gather(y0, x1)
        bottom = (1.0 - wx) * gather(y1, x0) + wx * gather(y1, x1)
        out = (1.0 - wy) * top + wy * bottom
        if images.dtype.is_integer:
            out = tf.round(out)
        out = tf.cast(out, images.dtype)
    return out[..., 0] if rank == 3 else out


def _box_area(boxes):
    return (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])


def box_activation_weights(cams, index, boxes, source_boxes, same_class):
    """SnapMix's label weights from the class activation maps, as the official code.

    `lam_a = 1 - CAM_a(box) / (CAM_a(total) + 1e-8)`: the share of the row's
    own class activation that it keeps; `lam_b = CAM_b(source box) /
    (CAM_b(total) + 1e-8)`: the share of the partner's activation pasted.
    Exactly as the official `snapmix`, including its quirks:

    - the weights need not sum to 1;
    - on rows whose partner has the same class both become `lam_a + lam_b`
      (so that class gets `2 * (lam_a + lam_b)` in total);
    - where a weight is NaN (a constant map, see `class_activation_maps`) it
      becomes the box area: `lam_a = 1 - area / (H * W)`, `lam_b = area / (H * W)`;
    - rows where either box is empty paste nothing: `lam_a = 1`, `lam_b = 0`.

    Args:
        cams: float tensor `(B, H, W)`, each row's own-class map
            (`class_activation_maps`).
        index: int tensor `(B,)`, the partner of every row.
        boxes: int tensor `(B, 4)` `(y_low, y_high, x_low, x_high)`: where the
            row receives the paste.
        source_boxes: int tensor `(B, 4)`: the partner's pasted region.
        same_class: bool tensor `(B,)`: whether the row and its partner share
            their class.

    Returns:
        `(lam_a, lam_b)`: float32 tensors `(B,)`, the weights of the row's own
        label and of its partner's label.

    Example:

    ```python
    import numpy as np
    from kmix.ops.class_activation import box_activation_weights

    cams = np.full((2, 4, 4), 1 / 16, np.float32)
    lam_a, lam_b = box_activation_weights(
        cams, [1, 0], [[0, 2, 0, 2]] * 2, [[0, 4, 0, 2]] * 2, [False, False])
    print(np.round(lam_a.numpy(), 4).tolist(), np.round(lam_b.numpy(), 4).tolist())
    # [0.75, 0.75] [0.5, 0.5]
    ```
    """
    cams = tf.cast(cams, tf.float32)
    index = tf.cast(index, tf.int32)
    boxes = tf.cast(boxes, tf.int32)
    source_boxes = tf.cast(source_boxes, tf.int32)
    height, width = cams.shape[1], cams.shape[2]
    if height is None or width is None:
        height, width = tf.shape(cams)[1], tf.shape(cams)[2]
    partner_cams = tf.gather(cams, index)
    inside = 1.0 - box_mask(boxes, height, width)[..., 0]
    inside_source = 1.0 - box_mask(source_boxes, height, width)[..., 0]
    total = tf.reduce_sum(cams, axis=[1, 2])
    partner_total = tf.reduce_sum(partner_cams, axis=[1, 2])
    lam_a = 1.0 - tf.reduce_sum(cams * inside, axis=[1, 2]) / (total + 1e-8)
    lam_b = tf.reduce_sum(partner_cams * inside_source, axis=[1, 2]) / (partner_total + 1e-8)
    same_class = tf.cast(same_class, tf.bool)
    merged = lam_a + lam_b
    lam_a, lam_b = tf.where(same_class, merged, lam_a), tf.where(same_class, merged, lam_b)
    area_lam = 1.0 - tf.cast(_box_area(boxes), tf.float32) / tf.cast(height * width, tf.float32)
    lam_a = tf.where(tf.math.is_nan(lam_a), area_lam, lam_a)
    lam_b = tf.where(tf.math.is_nan(lam_b), 1.0 - area_lam, lam_b)
    pasted = (_box_area(boxes) > 0) & (_box_area(source_boxes) > 0)
    return tf.where(pasted, lam_a, 1.0), tf.where(pasted, lam_b, 0.0)


__all__ = ["box_activation_weights", "class_activation_maps", "paste_boxes"]
