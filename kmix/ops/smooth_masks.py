"""SmoothMix's own-pixel masks: one minus a Gaussian blob of the partner."""

import tensorflow as tf


def gaussian_blob_mask(offset_y, offset_x, sigma, height, width):
    """Own-pixel masks `1 - exp(-d^2 / (2 sigma^2))` around a shifted centre, per row.

    The partner's weight is a Gaussian centred at
    `((H - 1) / 2 + offset_y, (W - 1) / 2 + offset_x)` with peak 1, as
    OpenMixup's `gaussian_kernel` (which builds it on a doubled, rolled and
    cropped grid; the same values).

    Args:
        offset_y, offset_x: int or float `(B,)`, the centre's shift in pixels.
        sigma: float `(B,)` > 0, in pixels.
        height, width: ints `H`, `W`.

    Returns:
        float32 `(B, H, W, 1)`: the weight of each row's own pixels.
    """
    offset_y = tf.cast(offset_y, tf.float32)[:, None, None]
    offset_x = tf.cast(offset_x, tf.float32)[:, None, None]
    sigma = tf.cast(sigma, tf.float32)[:, None, None]
    rows = tf.cast(tf.range(height), tf.float32)[None, :, None]
    cols = tf.cast(tf.range(width), tf.float32)[None, None, :]
    centre_y = (tf.cast(height, tf.float32) - 1.0) / 2.0 + offset_y
    centre_x = (tf.cast(width, tf.float32) - 1.0) / 2.0 + offset_x
    d2 = tf.square(rows - centre_y) + tf.square(cols - centre_x)
    partner = tf.exp(-d2 / (2.0 * tf.square(sigma)))
    return (1.0 - partner)[..., None]


__all__ = ["gaussian_blob_mask"]
