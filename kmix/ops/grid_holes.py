"""GridMix's own-pixel masks: a grid of holes, inside a cut, filled from the partner."""

import tensorflow as tf


def grid_hole_mask(lam, n_holes, hole_aspect_ratio, cut_area_ratio, cut_aspect_ratio, cx, cy,
                   height, width):
    """Own-pixel masks of GridMix (OpenMixup's `rand_grid`), one per row, given its draws.

    A cut of area `floor(H * W * cut_area_ratio)` and aspect `cut_aspect_ratio`
    (`cut_w = floor(sqrt(area / aspect))`, `cut_h = floor(cut_w * aspect)`) is
    placed at `(floor((W - cut_w) * cx), floor((H - cut_h) * cy))`; it is tiled
    by `n_holes` patches across, `patch_w = ceil(cut_w / n_holes)`,
    `patch_h = floor(patch_w * hole_aspect_ratio)`, and each patch's top-left
    hole of `floor(patch * sqrt(1 - lam))` pixels (at least 1, at most
    `patch - 1`) shows the partner.

    Static shapes, vectorised over the batch (XLA, `tf.data`).

    Args:
        lam: float `(B,)`, the drawn ratio (sets the hole size).
        n_holes: int `(B,)`, patches across the cut.
        hole_aspect_ratio, cut_area_ratio, cut_aspect_ratio: float `(B,)`.
        cx, cy: float `(B,)` in `[0, 1)`, the cut's position.
        height, width: ints `H`, `W`.

    Returns:
        float32 `(B, H, W, 1)`: 0 in the holes (partner), 1 elsewhere.
    """
    f32 = lambda v: tf.cast(v, tf.float32)  # noqa: E731
    h, w = f32(height), f32(width)
    area = tf.floor(h * w * f32(cut_area_ratio))
    cut_w = tf.floor(tf.sqrt(area / f32(cut_aspect_ratio)))
    cut_h = tf.floor(cut_w * f32(cut_aspect_ratio))
    # A cut larger than the image is clipped to it (the official slices wrap).
    cut_w, cut_h = tf.minimum(cut_w, w), tf.minimum(cut_h, h)
    x0 = tf.floor((w - cut_w) * f32(cx))
    y0 = tf.floor((h - cut_h) * f32(cy))
    holes = tf.clip_by_value(f32(n_holes), 1.0, tf.maximum(tf.floor(cut_w / 2.0), 1.0))
    patch_w = tf.math.ceil(cut_w / holes)
    patch_h = tf.maximum(tf.floor(patch_w * f32(hole_aspect_ratio)), 1.0)
    ratio = tf.sqrt(1.0 - f32(lam))
    hole_w = tf.minimum(tf.maximum(tf.floor(patch_w * ratio), 1.0), patch_w - 1.0)
    hole_h = tf.minimum(tf.maximum(tf.floor(patch_h * ratio), 1.0), patch_h - 1.0)
    col = f32(tf.range(width))[None, None, :] - x0[:, None, None]
    row = f32(tf.range(height))[None, :, None] - y0[:, None, None]

    def per_row(v):
        return v[:, None, None]

    in_cut = (col >= 0) & (col < per_row(cut_w)) & (row >= 0) & (row < per_row(cut_h))
    in_hole_x = tf.math.floormod(col, per_row(patch_w)) < per_row(hole_w)
    in_hole_y = tf.math.floormod(row, per_row(patch_h)) < per_row(hole_h)
    partner = in_cut & in_hole_x & in_hole_y
    return tf.cast(~partner, tf.float32)[..., None]


__all__ = ["grid_hole_mask"]
