"""Attentive CutMix's cells: the top-k cells of a feature map, on the image grid."""

import tensorflow as tf

from kmix.config import fused_kernels_enabled


def top_k_cell_mask(features, top_k, height, width, index=None):
    """1 on each row's `top_k` most active cells, upsampled (nearest) to the image.

    Args:
        features: float `(B, s_h, s_w, C)` feature maps (channels last); the
            activity of a cell is the mean over the channels, as OpenMixup's
            `attentivemix`.
        top_k: int, the number of cells.
        height, width: ints `H`, `W` of the images; cell `(i, j)` covers the
            pixels `floor(y * s_h / H) = i`, `floor(x * s_w / W) = j`.
        index: optional int `(B,)`: row `i` takes the cells of
            `features[index[i]]` (the same as passing `tf.gather(features,
            index)`, but only the cell activities are gathered).

    Returns:
        float32 `(B, H, W, 1)`: 1 in the chosen cells, 0 elsewhere.
    """
    features = tf.cast(features, tf.float32)
    index = tf.range(tf.shape(features)[0]) if index is None else tf.cast(index, tf.int32)
    if fused_kernels_enabled() and isinstance(height, int) and isinstance(width, int):
        # One XLA kernel (about a quarter of the plain ops' time at 256x8x8x64).
        return _cell_mask_xla(features, index, top_k, height, width)
    return _cell_mask(features, index, top_k, height, width)


def _cell_mask(features, index, top_k, height, width):
    grid_h, grid_w = features.shape[1], features.shape[2]
    activity = tf.reshape(tf.reduce_mean(features, axis=-1), [-1, grid_h * grid_w])
    activity = tf.gather(activity, index)
    _, chosen = tf.math.top_k(activity, k=top_k)
    cells = tf.reduce_max(tf.one_hot(chosen, grid_h * grid_w), axis=1)
    cells = tf.reshape(cells, [-1, grid_h, grid_w])
    if height % grid_h == 0 and width % grid_w == 0:
        # Cells that tile the image: each one a block, by broadcasting (no gather).
        batch = tf.shape(cells)[0]
        blocks = tf.broadcast_to(
            cells[:, :, None, :, None],
            tf.stack([batch, grid_h, height // grid_h, grid_w, width // grid_w]),
        )
        return tf.reshape(blocks, tf.stack([batch, height, width, 1]))
    rows = tf.range(height) * grid_h // height
    cols = tf.range(width) * grid_w // width
    pixels = tf.gather(tf.gather(cells, rows, axis=1), cols, axis=2)
    return pixels[..., None]


_cell_mask_xla = tf.function(_cell_mask, jit_compile=True, autograph=False)


__all__ = ["top_k_cell_mask"]
