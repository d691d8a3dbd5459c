"""SMMix: attention window scores, window choice, translated pastes and region pooling.

Token grids are row-major: token `t` sits at row `t // Gw`, column `t % Gw`.
Window positions are the top-left tokens of `s x s` windows, stride 1.
"""

import tensorflow as tf

from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_int


def patch_attention(attention, num_prefix_tokens=1):
    """SMMix's image attention: how much each patch is attended by the patches.

    `attention[:, :, P:, P:]` averaged over heads and over the patch queries
    (SMMix `deit.py`; not the class-token row that TransMix uses).

    Args:
        attention: float tensor `(B, heads, T, T)`, post-softmax attention of
            the last block, queries first; `T = P + N`.
        num_prefix_tokens: int `P` (1 for a ViT with a class token).

    Returns:
        float32 tensor `(B, N)`.

    Example:

    ```python
    import tensorflow as tf
    from kmix.ops.windows import patch_attention

    attn = tf.nn.softmax(tf.random.stateless_normal([2, 3, 5, 5], [0, 1]))
    print(patch_attention(attn).shape)  # (2, 4)
    ```
    """
    num_prefix_tokens = check_int(num_prefix_tokens, "num_prefix_tokens", minimum=0)
    attention = tf.convert_to_tensor(attention)
    if attention.shape.rank != 4:
        raise ValueError(
            "`attention` must have shape (B, heads, T, T). "
            f"Received: attention.shape={_shape_str(attention)}"
        )
    attention = tf.cast(attention, tf.float32)
    p = num_prefix_tokens
    return tf.reduce_mean(attention[:, :, p:, p:], axis=[1, 2])


def window_scores(attention, grid_height, grid_width, side):
    """Sum of the attention over every `side x side` window, stride 1.

    Args:
        attention: float tensor `(B, N)`, `N = Gh * Gw`, row-major.
        grid_height, grid_width: ints `Gh`, `Gw`.
        side: int, the window side `s`.

    Returns:
        float32 tensor `(B, (Gh - s + 1) * (Gw - s + 1))`, windows in row-major
        order of their top-left token (SMMix's `unfold` order).

    Example:

    ```python
    import numpy as np
    from kmix.ops.windows import window_scores

    attn = np.arange(9, dtype="float32")[None]
    print(window_scores(attn, 3, 3, 2).numpy().tolist())  # [[8.0, 12.0, 20.0, 24.0]]
    ```
    """
    grid_height = check_int(grid_height, "grid_height", minimum=1)
    grid_width = check_int(grid_width, "grid_width", minimum=1)
    side = check_int(side, "side", minimum=1)
    if side > min(grid_height, grid_width):
        raise ValueError(
            "`side` must fit in the token grid. Received: "
            f"side={side} with a {grid_height}x{grid_width} grid"
        )
    grid = tf.reshape(tf.cast(attention, tf.float32), [-1, grid_height, grid_width, 1])
    kernel = tf.ones([side, side, 1, 1], tf.float32)
    sums = tf.nn.conv2d(grid, kernel, strides=1, padding="VALID")
    return tf.reshape(sums, [tf.shape(sums)[0], -1])


def _scores_all_sides(attention, grid_height, grid_width, sides):
    """`(B, num_sides, Gh, Gw)` window sums; positions a window cannot start at are NaN-free
    but flagged in the returned validity tensor `(num_sides, Gh, Gw)`."""
    grid = tf.reshape(tf.cast(attention, tf.float32), [-1, grid_height, grid_width, 1])
    per_side, valid = [], []
    for s in sides:
        sums = tf.nn.conv2d(grid, tf.ones([s, s, 1, 1], tf.float32), strides=1, padding="VALID")
        sums = tf.pad(sums[..., 0], [[0, 0], [0, s - 1], [0, s - 1]])
        per_side.append(sums)
        ok = tf.pad(
            tf.ones([grid_height - s + 1, grid_width - s + 1], tf.bool),
            [[0, s - 1], [0, s - 1]],
            constant_values=False,
        )
        valid.append(ok)
    return tf.stack(per_side, axis=1), tf.stack(valid, axis=0)


def smmix_windows(attention, sides, grid_height, grid_width, index, candidate_sides):
    """SMMix's window choice for every row, vectorised over rows and sides.

    For row `i` with side `s_i`: the window of least attention of its own image
    (where the partner is pasted) and the window of most attention of its
    partner `j = index[i]`, scored on the partner's own attention with the same
    side (SMMix's `argmin` / `argmax` of the `unfold` sums; ties go to the
    first window in row-major order).

    Args:
        attention: float tensor `(B, N)`, every image's own patch attention.
        sides: int tensor `(B,)`, the side of every row, one of `candidate_sides`.
        grid_height, grid_width: ints.
        index: int tensor `(B,)`, partners.
        candidate_sides: tuple of Python ints, every side that may occur.

    Returns:
        `(target_corner, source_corner)`: int32 tensors `(B, 2)` with the
        (row, column) of the top-left token of the window in the row's own image
        and in its partner image.
    """
    sides = tf.cast(sides, tf.int32)
    index = tf.cast(index, tf.int32)
    candidate_sides = tuple(int(s) for s in candidate_sides)
    scores, valid = _scores_all_sides(attention, grid_height, grid_width, candidate_sides)
    choose = tf.cast(tf.equal(sides[:, None], tf.constant(candidate_sides, tf.int32)[None]), tf.float32)
    # Exactly one candidate matches: select it (a sum of exact products).
    own = tf.einsum("bshw,bs->bhw", scores, choose)
    ok = tf.reduce_any(tf.cast(choose, tf.bool)[:, :, None, None] & valid[None], axis=1)
    partner = tf.einsum("bshw,bs->bhw", tf.gather(scores, index), choose)
    flat_ok = tf.reshape(ok, [-1, grid_height * grid_width])
    inf = tf.constant(float("inf"), tf.float32)
    low = tf.where(flat_ok, tf.reshape(own, [-1, grid_height * grid_width]), inf)
    high = tf.where(flat_ok, tf.reshape(partner, [-1, grid_height * grid_width]), -inf)
    w_min = tf.argmin(low, axis=1, output_type=tf.int32)
    w_max = tf.argmax(high, axis=1, output_type=tf.int32)
    target = tf.stack([w_min // grid_width, w_min % grid_width], axis=1)
    source = tf.stack([w_max // grid_width, w_max % grid_width], axis=1)
    return target, source


def window_token_mask(corner, sides, grid_height, grid_width):
    """1 on the tokens of each row's `s x s` window, `(B, Gh, Gw)` float32."""
    corner = tf.cast(corner, tf.int32)
    sides = tf.cast(sides, tf.int32)
    rows = tf.range(grid_height, dtype=tf.int32)[None]
    cols = tf.range(grid_width, dtype=tf.int32)[None]
    in_rows = (rows >= corner[:, :1]) & (rows < corner[:, :1] + sides[:, None])
    in_cols = (cols >= corner[:, 1:]) & (cols < corner[:, 1:] + sides[:, None])
    return tf.cast(in_rows[:, :, None] & in_cols[:, None, :], tf.float32)


def translated_partner(images, index, shift, data_format="channels_last"):
    """Every row's partner image translated by `shift` pixels (edge-clamped).

    Output pixel `(y, x)` of row `i` is pixel `(y - dy, x - dx)` of image
    `index[i]`, clamped to the image; SMMix uses it so that the partner's
    window lands on the row's own window (the mask keeps everything else).

    Args:
        images: tensor `(B, H, W, C)` (or channels-first).
        index: int tensor `(B,)`.
        shift: int tensor `(B, 2)`, `(dy, dx)` in pixels.
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        tensor like `images`.
    """
    channels_first = data_format == "channels_first"
    h_axis, w_axis = (2, 3) if channels_first else (1, 2)
    shape = tf.shape(images)
    height, width = images.shape[h_axis] or shape[h_axis], images.shape[w_axis] or shape[w_axis]
    shift = tf.cast(shift, tf.int32)
    rows = tf.clip_by_value(tf.range(height)[None] - shift[:, :1], 0, height - 1)
    cols = tf.clip_by_value(tf.range(width)[None] - shift[:, 1:], 0, width - 1)
    partner = tf.gather(images, tf.cast(index, tf.int32))
    partner = tf.gather(partner, rows, axis=h_axis, batch_dims=1)
    return tf.gather(partner, cols, axis=w_axis, batch_dims=1)


def region_mean(tokens, region):
    """Mean of the tokens over a region: `sum(tokens * m) / sum(m)` per row.

    SMMix's region pooling of the final patch tokens over the target (own)
    and source (pasted) token masks. An empty region gives zeros.

    Args:
        tokens: float tensor `(B, N, D)`.
        region: float tensor `(B, N)`, 1 on the region's tokens.

    Returns:
        tensor `(B, D)` in the tokens' dtype.

    Example:

    ```python
    import numpy as np
    from kmix.ops.windows import region_mean

    tokens = np.arange(6, dtype="float32").reshape(1, 3, 2)
    print(region_mean(tokens, np.array([[1.0, 0.0, 1.0]])).numpy().tolist())  # [[2.0, 3.0]]
    ```
    """
    tokens = tf.convert_to_tensor(tokens)
    region = tf.cast(region, tokens.dtype)
    total = tf.reduce_sum(tokens * region[..., None], axis=1)
    count = tf.reduce_sum(region, axis=1, keepdims=True)
    return total / tf.maximum(count, tf.cast(1e-6, tokens.dtype))


__all__ = [
    "patch_attention",
    "region_mean",
    "smmix_windows",
    "translated_partner",
    "window_scores",
    "window_token_mask",
]
