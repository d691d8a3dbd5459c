"""Own-pixel masks for the box and grid mixers, on static image shapes.

Every function returns masks of shape `(B, H, W, 1)`, float32, 1 where a row
keeps its own pixel and 0 where the partner's pixel is pasted.
"""

import tensorflow as tf

from kmix.ops.sampling import sample_int
from kmix.ops.seeds import split_seed


def box_mask(boxes, height, width):
    """Own-pixel mask of half-open boxes.

    Args:
        boxes: int32 tensor `(B, 4)` with `(y_low, y_high, x_low, x_high)`:
            rows `y_low <= y < y_high` and columns `x_low <= x < x_high` are
            pasted from the partner.
        height: int, image height `H`.
        width: int, image width `W`.

    Returns:
        float32 tensor `(B, H, W, 1)`, 0 inside the box, 1 elsewhere.
    """
    boxes = tf.cast(boxes, tf.int32)
    yy = tf.range(height, dtype=tf.int32)[None, :, None]
    xx = tf.range(width, dtype=tf.int32)[None, None, :]
    yl, yh, xl, xh = [boxes[:, k][:, None, None] for k in range(4)]
    inside = (yy >= yl) & (yy < yh) & (xx >= xl) & (xx < xh)
    return tf.cast(~inside, tf.float32)[..., None]


def box_from_side_ratio(ratio, center_y, center_x, height, width):
    """The box `[center - cut // 2, center + cut // 2)` clipped to the image.

    `cut = floor(side * ratio)` per axis: the one box helper of kmix (CutMix's
    boxes from `lam`, ResizeMix's from its scale `tau`).

    Args:
        ratio: float tensor `(B,)`, the box side over the image side.
        center_y, center_x: int tensors `(B,)`.
        height, width: ints (or scalar int tensors) `H`, `W`.

    Returns:
        int32 tensor `(B, 4)`: `(y_low, y_high, x_low, x_high)`.
    """
    ratio = tf.cast(ratio, tf.float32)
    cut_h = tf.cast(tf.floor(tf.cast(height, tf.float32) * ratio), tf.int32)
    cut_w = tf.cast(tf.floor(tf.cast(width, tf.float32) * ratio), tf.int32)
    center_y = tf.cast(center_y, tf.int32)
    center_x = tf.cast(center_x, tf.int32)
    yl = tf.clip_by_value(center_y - cut_h // 2, 0, height)
    yh = tf.clip_by_value(center_y + cut_h // 2, 0, height)
    xl = tf.clip_by_value(center_x - cut_w // 2, 0, width)
    xh = tf.clip_by_value(center_x + cut_w // 2, 0, width)
    return tf.stack([yl, yh, xl, xh], axis=-1)


def box_from_center(lam, center_y, center_x, height, width):
    """timm's `rand_bbox` box for a given centre (no randomness).

    `cut = floor(side * sqrt(1 - lam))` per axis; the box is
    `[center - cut // 2, center + cut // 2)` clipped to `[0, side]`.

    Args:
        lam: float tensor `(B,)`, the sampled share of the own image.
        center_y, center_x: int tensors `(B,)`.
        height, width: ints (or scalar int tensors) `H`, `W`.

    Returns:
        int32 tensor `(B, 4)`: `(y_low, y_high, x_low, x_high)`.

    Example:

    ```python
    import kmix

    box = kmix.ops.box_from_center([0.3], [112], [112], 224, 224)
    print(box.numpy().tolist())  # [[19, 205, 19, 205]]
    ```
    """
    ratio = tf.sqrt(tf.maximum(1.0 - tf.cast(lam, tf.float32), 0.0))
    return box_from_side_ratio(ratio, center_y, center_x, height, width)


def cutmix_boxes(lam, height, width, seed, minmax=None, grid=1):
    """CutMix boxes with timm's semantics, clipped at the border.

    Without `minmax` (timm `rand_bbox`): side ratio `r = sqrt(1 - lam)`,
    `cut = floor(side * r)`, a centre uniform over all pixels, and the box
    `[centre - cut // 2, centre + cut // 2)` clipped to the image.
    With `minmax=(lo, hi)` (timm `rand_bbox_minmax`): `cut ~ U{floor(side * lo),
    ..., floor(side * hi) - 1}` per axis and an origin uniform over every
    position that keeps the box inside (timm after its 2026-08 fix; earlier
    versions never drew the last valid origin); `lam` is then unused.

    With `grid > 1` the same rules run on the `(H / grid) x (W / grid)` grid of
    patches and the box is scaled back to pixels, so it covers whole patches
    (token-aligned CutMix, as TL-Align).

    Args:
        lam: float32 tensor `(B,)`: the sampled share of the own image.
        height: int `H`; width: int `W` (multiples of `grid`).
        seed: `(2,)` int seed tensor.
        minmax: optional `(lo, hi)` ratios.
        grid: int, the patch size to align boxes to (1 = pixels).

    Returns:
        int32 tensor `(B, 4)`: `(y_low, y_high, x_low, x_high)` in pixels.
    """
    gh, gw = height // grid, width // grid
    shape = tf.shape(lam)
    s_cy, s_cx, s_h, s_w = split_seed(seed, 4)
    if minmax is None:
        cy = sample_int(shape, s_cy, gh)
        cx = sample_int(shape, s_cx, gw)
        return box_from_center(lam, cy, cx, gh, gw) * grid
    lo, hi = minmax
    h_lo, h_hi = int(gh * lo), int(gh * hi)
    w_lo, w_hi = int(gw * lo), int(gw * hi)
    cut_h = h_lo + sample_int(shape, s_h, max(h_hi - h_lo, 1))
    cut_w = w_lo + sample_int(shape, s_w, max(w_hi - w_lo, 1))
    yl = sample_int(shape, s_cy, gh - cut_h + 1)
    xl = sample_int(shape, s_cx, gw - cut_w + 1)
    return tf.stack([yl, yl + cut_h, xl, xl + cut_w], axis=-1) * grid
