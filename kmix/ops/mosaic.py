"""Mosaic: four images in the quadrants around a centre, and their label weights (pure TF functions)."""

import tensorflow as tf

from kmix.ops.seeds import split_seed


def sample_mosaic(batch_size, height, width, offset, seed):
    """The images of each mosaic and its centre.

    As KerasCV's `Mosaic`: row `b` shows itself top-left and three rows drawn
    uniformly from the batch (with replacement) top-right, bottom-left and
    bottom-right; the centre's x and y are drawn independently, uniform in
    `offset` times the width and height, and rounded to whole pixels (KerasCV
    keeps them fractional and resamples the crop, see `mosaic_images`).

    Args:
        batch_size: scalar int32 tensor `B`.
        height, width: ints (or scalar tensors) `H`, `W`.
        offset: `(lo, hi)` floats in `[0, 1]`.
        seed: int32 tensor `(2,)`.

    Returns:
        `(order, centres)`: int32 `(B, 4)` rows (top-left first, then
        top-right, bottom-left, bottom-right); int32 `(B, 2)` `(cy, cx)`.
    """
    seed_rows, seed_centres = split_seed(seed, 2)
    others = tf.random.stateless_uniform(
        tf.stack([batch_size, 3]), seed_rows, minval=0, maxval=batch_size, dtype=tf.int32
    )
    order = tf.concat([tf.range(batch_size)[:, None], others], axis=1)
    fractions = tf.random.stateless_uniform(
        tf.stack([batch_size, 2]), seed_centres, minval=offset[0], maxval=offset[1]
    )
    size = tf.cast(tf.stack([height, width]), tf.float32)
    centres = tf.cast(tf.round(fractions * size), tf.int32)
    return order, centres


def quadrant_masks(centres, height, width):
    """Four bool `(B, H, W)` masks: top-left, top-right, bottom-left, bottom-right of each centre."""
    rows = tf.range(height)[None, :, None] >= centres[:, 0, None, None]
    cols = tf.range(width)[None, None, :] >= centres[:, 1, None, None]
    return [~rows & ~cols, ~rows & cols, rows & ~cols, rows & cols]


def mosaic_weights(centres, height, width):
    """float32 `(B, 4)`: the share of the output each quadrant's image covers (its label weight)."""
    cy = tf.cast(centres[:, 0], tf.float32)
    cx = tf.cast(centres[:, 1], tf.float32)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    return tf.stack([cx * cy, (w - cx) * cy, cx * (h - cy), (w - cx) * (h - cy)], axis=1) / (h * w)


def mosaic_images(images, order, centres, data_format="channels_last"):
    """Every row's mosaic: four images meeting at its centre, each shifted, none resized.

    Output pixel `(y, x)` of row `b` in the quadrant `q` shows pixel
    `(y - cy + H [if top], x - cx + W [if left])` of image `order[b, q]`: the
    window of the 2H x 2W canvas of the four images whose centre point lands
    at `(cy, cx)`. KerasCV crops the same window with `crop_and_resize`
    over `(H - 1) / (2H - 1)`-scaled coordinates, which resamples it slightly
    (a step of `H / (H - 1)` pixels); kmix moves whole pixels, so boxes and
    label weights match the pixels exactly.

    Args:
        images: `(B, H, W, C)` (`(B, C, H, W)` channels-first) or `(B, H, W)`
            (e.g. segmentation class ids), any dtype.
        order: int32 `(B, 4)`, from `sample_mosaic`.
        centres: int32 `(B, 2)`, `(cy, cx)`.
        data_format: `"channels_last"` or `"channels_first"` (rank 4 only).

    Returns:
        Tensor of the shape and dtype of `images`.
    """
    channels_first = data_format == "channels_first" and images.shape.rank == 4
    if channels_first:
        images = tf.transpose(images, [0, 2, 3, 1])
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    cy, cx = centres[:, 0, None, None], centres[:, 1, None, None]
    ys = tf.range(height)[None, :, None]
    xs = tf.range(width)[None, None, :]
    top, left = ys < cy, xs < cx
    src_y = ys - cy + tf.where(top, height, 0)
    src_x = xs - cx + tf.where(left, width, 0)
    quadrant = 2 * tf.cast(~top, tf.int32) + tf.cast(~left, tf.int32)  # (B, H, W)
    rows = tf.gather(order, quadrant, batch_dims=1)
    src_y = tf.broadcast_to(src_y, tf.shape(rows))
    src_x = tf.broadcast_to(src_x, tf.shape(rows))
    out = tf.gather_nd(images, tf.stack([rows, src_y, src_x], axis=-1))
    if channels_first:
        out = tf.transpose(out, [0, 3, 1, 2])
    return out
