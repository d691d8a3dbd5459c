"""FMix masks: thresholded low-frequency Fourier fields with an exact area.

Follows ecs-vlc/FMix (`fmix.py`): complex Gaussian coefficients on the rfft
frequency grid, scaled by `1 / max(f, 1 / max(H, W)) ** decay_power`, inverse
real FFT, and the top `k` pixels of the field set to 1 with
`k = ceil(lam * N)` or `floor(lam * N)` (probability 1/2 each).

Deliberate differences, all for speed (see `FMix`'s docstring):
- The field is synthesised from the frequencies `|k_y|, k_x <= num_frequencies`
  cycles per image (default 12) by two matrix products over the whole batch
  instead of a full inverse FFT. With `decay_power=3` the amplitudes fall as
  `k^-3`, so the dropped tail holds about `1e-5` of the field's variance (about
  0.1% of the mask pixels differ from a full-spectrum mask); lower decay
  powers keep more frequencies.
- The Gaussian coefficients come by Box-Muller from counter-based uniforms
  (`kmix.ops.counter_random.hashed_uniform`, an integer hash of each value's
  position and the seed), drawn in their own small XLA kernel; the sine and
  cosine are polynomials. TF's normal op, and later its Philox uniforms,
  cost more than the rest of the mask at CIFAR size. Same distribution; a
  seed gives other masks than before 2026-12 (Box-Muller) and 2026-12-06
  (hashed uniforms), and the same masks with the fused kernels on or off.
- The exact top `k` is taken on integer scores: the field quantised to
  `31 - ceil(log2(N))` bits (15 bits up to 256x256 images) and, below that,
  the raster position, so pixels that tie on the quantised field are taken in
  raster order. The mask always has exactly `k` ones. The `k`-th level is
  found by 10 compare-and-count passes over the int16 levels (two thresholds
  a pass, both counts packed in one int32 sum; one threshold a pass from
  2**16 pixels on), the tie position by one pass counting the tied pixels of
  every image row; all in one XLA program with the field synthesis. XLA on
  CPU materialises the operand of every reduction, so the counts and the
  field's min and max first fold up to 32 row slices elementwise.
"""

import math

import numpy as np
import tensorflow as tf

from kmix.config import fused_kernels_enabled
from kmix.ops.counter_random import hashed_bits
from kmix.ops.counter_random import hashed_uniform
from kmix.ops.seeds import split_seed
from kmix.ops.seeds import to_seed_tensor


def _frequency_tables(height, width, num_frequencies, decay_power):
    """The amplitude scale `(Ky, 1, Kx)` of the kept frequencies and the two basis matrices."""
    ly = min(num_frequencies, height // 2)
    lx = min(num_frequencies, width // 2)
    ky = np.concatenate([np.arange(0, ly + 1), np.arange(-ly, 0)])
    kx = np.arange(0, lx + 1)
    freqs = np.sqrt((ky[:, None] / height) ** 2 + (kx[None, :] / width) ** 2)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(height, width)) ** decay_power
    # irfft counts every column but the zero-frequency one twice.
    scale = scale * np.where(kx == 0, 1.0, 2.0)[None, :]
    scale = scale / scale.max()
    ey = np.exp(2j * np.pi * np.outer(np.arange(height), ky) / height)
    ex = np.exp(2j * np.pi * np.outer(np.arange(width), kx) / width)
    # field = Re(Ey C Ex^T), C = A + iB. The columns first: U = Ey C has
    # [Re U; Im U] = rows @ [A; B], then field = [Re U, Im U] @ cols.
    rows = np.block([[ey.real, -ey.imag], [ey.imag, ey.real]])  # (2H, 2Ky)
    cols = np.concatenate([ex.real.T, -ex.imag.T], axis=0)  # (2Kx, W)
    const = lambda a: tf.constant(a, tf.float32)  # noqa: E731
    return const(scale[:, None, :]), const(rows), const(cols)


def _sincos_2pi(u):
    """`(sin(2 pi u), cos(2 pi u))` of float32 `u` in `[0, 1]` by polynomials.

    The angle is cut to the nearest quarter turn `q` and a rest `r` in
    `[-pi/4, pi/4]`, whose sine and cosine come from their Taylor series to
    `r**9` and `r**10` (truncation below 2e-9), then rotated by `q`: the same
    float32 accuracy as `tf.sin` and `tf.cos` (within 1e-6), and plain
    multiply-adds that XLA vectorises (its `sin` and `cos` on CPU cost about
    ten times more).
    """
    quarter = tf.round(4.0 * u)
    r = (2.0 * math.pi) * (u - 0.25 * quarter)
    r2 = r * r
    sin = r * (1.0 + r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 * (1.0 / 362880)))))
    cos = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24 + r2 * (-1.0 / 720 + r2 * (1.0 / 40320 + r2 * (-1.0 / 3628800)))))
    q = tf.math.floormod(tf.cast(quarter, tf.int32), 4)
    # Rotation by q quarter turns: (sin, cos) -> (cos, -sin) -> (-sin, -cos) -> (-cos, sin).
    swap = tf.equal(tf.bitwise.bitwise_and(q, 1), 1)
    sin_q = tf.where(swap, cos, sin)
    cos_q = tf.where(swap, sin, cos)
    sin_sign = tf.where(q >= 2, -1.0, 1.0)
    cos_sign = tf.where((q == 1) | (q == 2), -1.0, 1.0)
    return sin_sign * sin_q, cos_sign * cos_q


def _gaussian_coefficients(uniforms, scale):
    """Complex Gaussian coefficients `(Ky, B, Kx)` (real, imaginary) from uniforms.

    Box-Muller on `(2, Ky, B, Kx)` uniforms in [0, 1): one uniform pair gives
    the real and the imaginary part, two independent standard normals, which
    are then scaled by the spectrum.
    """
    radius = tf.sqrt(-2.0 * tf.math.log1p(-uniforms[0])) * scale
    sin, cos = _sincos_2pi(uniforms[1])
    return radius * cos, radius * sin


def _coefficients(seed, batch_size, scale):
    """The scaled Gaussian coefficients `(Ky, B, Kx)` of a batch, drawn from `seed`.

    The uniforms come from `kmix.ops.counter_random.hashed_uniform`: in their
    small XLA kernel they cost a few integer ops each (TF's Philox op cost
    more than the rest of the mask at CIFAR size, and under XLA ten times
    that), and they are the same in the fused and the plain path.
    """
    size = tf.shape(scale)
    shape = tf.stack([2, size[0], tf.cast(batch_size, tf.int32), size[2]])
    return _gaussian_coefficients(hashed_uniform(shape, seed), scale)


# The draws and Box-Muller as one XLA kernel writing the coefficients (fused
# into the mask program instead, XLA recomputes them per use).
_coefficients_xla = tf.function(_coefficients, jit_compile=True, reduce_retracing=True, autograph=False)


def _synthesise(c_re, c_im, rows, cols):
    """Field `(B, H, W)` normalised to [0, 1] from coefficients `(Ky, B, Kx)`.

    Two matrix products over the whole batch, along the height first (the
    rfft half-plane has fewer columns than rows of frequencies): `rows @ [A; B]`
    gives `U = Ey C` of every row, `[Re U, Im U] @ cols` the field.
    """
    # Sizes from the tables at run time: a relaxed retrace may forget static shapes.
    height = tf.shape(rows)[0] // 2
    kx = tf.shape(cols)[0] // 2
    width = tf.shape(cols)[1]
    coefficients = tf.concat([c_re, c_im], axis=0)  # (2Ky, B, Kx)
    u = tf.matmul(rows, tf.reshape(coefficients, [tf.shape(rows)[1], -1]))  # (2H, B * Kx)
    u = tf.transpose(tf.reshape(u, [2, height, -1, kx]), [2, 1, 0, 3])  # (B, H, 2, Kx)
    field = tf.reshape(tf.matmul(tf.reshape(u, [-1, 2 * kx]), cols), [-1, height, width])
    low, high = _row_extremes(field)
    return (field - low) / tf.maximum(high - low, 1e-12)


def _row_extremes(field):
    """Min and max `(B, 1, 1)` of each field `(B, H, W)`: two reductions over the flat rows.

    (Folding each row's slices by elementwise min and max first, as kmix did
    before 2026-12-06, ran a little faster but took LLVM about 80 s to compile
    under XLA with its default optimisation level: a minute and a half before
    the first FMix batch of a new process.)
    """
    flat = tf.reshape(field, [tf.shape(field)[0], -1])
    return (
        tf.reduce_min(flat, axis=1)[:, None, None],
        tf.reduce_max(flat, axis=1)[:, None, None],
    )


def _fused():
    return fused_kernels_enabled()


def _fields(seed, batch_size, scale, rows, cols):
    """`batch_size` fields `(B, H, W)` normalised to [0, 1], drawn from `seed`."""
    if _fused():
        return _synthesise_xla(*_coefficients_xla(seed, batch_size, scale), rows, cols)
    return _synthesise(*_coefficients(seed, batch_size, scale), rows, cols)


_synthesise_xla = tf.function(_synthesise, jit_compile=True, reduce_retracing=True, autograph=False)


def fourier_fields(batch_size, height, width, seed, decay_power=3.0, num_frequencies=12):
    """Low-frequency random fields, one per row, normalised to [0, 1].

    Args:
        batch_size: int or scalar int tensor `B`.
        height, width: ints `H`, `W` (static).
        seed: int, `keras.random.SeedGenerator` or `(2,)` int tensor.
        decay_power: float > 0. Spectral decay (FMix's `decay_power`).
        num_frequencies: int. Highest frequency kept per axis, in cycles per image.

    Returns:
        float32 tensor `(B, H, W)`.
    """
    tables = _frequency_tables(height, width, num_frequencies, decay_power)
    seed = to_seed_tensor(seed)
    return _fields(seed, tf.cast(batch_size, tf.int32), *tables)


# ----------------------------------------------------------------------
# The exact top k
# ----------------------------------------------------------------------
def _score_bits(num_pixels):
    position_bits = max(1, math.ceil(math.log2(num_pixels)))
    value_bits = min(15, 31 - position_bits)
    if value_bits < 4:
        raise ValueError(
            f"FMix supports images of at most 2**27 pixels. Received: {num_pixels} pixels"
        )
    return value_bits, position_bits


def _levels(field, num_pixels):
    """The field quantised to `value_bits` (at most 15) bits, int16 `(B, N)`.

    `num_pixels` is the Python int `H * W`: a retraced `tf.function` with
    relaxed shapes gives the field no static size to read it from.
    """
    value_bits, _ = _score_bits(num_pixels)
    batch = tf.shape(field)[0]
    level = tf.round(tf.reshape(field, [batch, num_pixels]) * (2**value_bits - 1))
    return tf.cast(level, tf.int16)


def _search_bits(count_at_least, k, num_bits, dtype):
    """The largest `t < 2**num_bits` with `count_at_least(t) >= k`, per row.

    Built bit by bit from the most significant: the candidate keeps a bit when
    at least `k` elements are at or above it. A fixed count of static-shape
    passes, one per bit (XLA); `count_at_least` must fall with `t`.
    """
    one = tf.constant(1, dtype)

    def body(i, found):
        bit = tf.bitwise.left_shift(one, tf.cast(num_bits - 1 - i, dtype))
        candidate = tf.bitwise.bitwise_or(found, bit)
        kept = tf.where(count_at_least(candidate) >= k, candidate, found)
        return i + 1, tf.ensure_shape(kept, found.shape)

    _, found = tf.while_loop(
        lambda i, found: i < num_bits,
        body,
        (tf.constant(0), tf.zeros_like(k, dtype)),
        maximum_iterations=num_bits,
    )
    return found


def _ternary_passes(num_values):
    """The fixed number of passes `_search_levels_packed` needs for `num_values` levels."""
    passes, d = 0, num_values
    while d > 1:
        t1, t2 = (d + 1) // 3, (2 * d + 1) // 3
        d = max(t1, t2 - t1, d - t2)
        passes += 1
    return passes


def _slice_count(num_pixels):
    """The largest divisor of `num_pixels` up to 32: rows summed by elementwise adds."""
    return max(r for r in range(1, 33) if num_pixels % r == 0)


def _row_sum(levels, contribution):
    """`sum(contribution(levels), axis=1)` of int16 `(B, N)` levels, as int32 `(B,)`.

    XLA on CPU materialises the operand of a reduction at full size (int32,
    twice the int16 levels); the row is cut into `R <= 32` slices added
    elementwise first (one fused loop reading the levels once), so only a
    `(B, N / R)` array is reduced.
    """
    num_pixels = levels.shape[1]
    r = _slice_count(num_pixels)
    blocks = tf.reshape(levels, [-1, r, num_pixels // r])
    total = contribution(blocks[:, 0])
    for j in range(1, r):
        total = total + contribution(blocks[:, j])
    return tf.reduce_sum(total, axis=1)


def _search_levels_packed(levels, k, value_bits):
    """The `k`-th largest level and the count above it, two thresholds a pass.

    Keeps `lo < hi` with `count(levels >= lo) >= k > count(levels >= hi)` and
    cuts the interval in three per pass: both counts come from one int32
    sum, `1` per element at or above the lower threshold plus `2**16` per
    element at or above the upper one (exact while `N < 2**16`; the 32-bit
    sum may wrap, the two 16-bit halves do not). 10 passes for 15-bit levels
    instead of 15 single-threshold ones, in a `tf.while_loop` so that the
    int16 levels are computed once and read by every pass.
    """
    batch = tf.shape(k)[:1]

    def body(i, lo, hi, count_hi, levels):
        d = hi - lo
        t1 = lo + (d + 1) // 3
        t2 = lo + (2 * d + 1) // 3
        low, high = tf.cast(t1, levels.dtype)[:, None], tf.cast(t2, levels.dtype)[:, None]
        packed = _row_sum(
            levels, lambda x: tf.where(x >= high, 65537, tf.where(x >= low, 1, 0))
        )
        c1 = tf.bitwise.bitwise_and(packed, 65535)
        c2 = tf.bitwise.bitwise_and(tf.bitwise.right_shift(packed, 16), 65535)
        up2, up1 = c2 >= k, c1 >= k
        return (
            i + 1,
            tf.where(up2, t2, tf.where(up1, t1, lo)),
            tf.where(up2, hi, tf.where(up1, t2, t1)),
            tf.where(up2, count_hi, tf.where(up1, c2, c1)),
            levels,
        )

    passes = _ternary_passes(2**value_bits)
    start = (
        tf.constant(0),
        tf.zeros(batch, tf.int32),
        tf.fill(batch, 2**value_bits),
        tf.zeros(batch, tf.int32),
        levels,
    )
    _, lo, _, count_hi, levels = tf.while_loop(
        lambda i, *_: i < passes, body, start, maximum_iterations=passes
    )
    return tf.cast(lo, levels.dtype), count_hi, levels


def _kth_largest(levels, k, height, width):
    """The pixel of rank `k` (1 = largest) by level, ties in raster order, per row.

    The order is that of the unique scores `level * 2**position_bits + (N - 1
    - index)`. First the `k`-th largest level `L` (a fixed number of
    compare-and-count passes over the int16 levels), then among the pixels at
    level `L` the `r = k - count(level > L)`-th in raster order: one pass counts
    the tied pixels of every image row, a cumulative sum over the `H` row
    counts finds the image row holding it, and a cumulative sum over that one
    row its column. The result is exact.

    Args:
        levels: int16 `(B, N)` from `_levels`, `N = height * width`.
        k: int32 `(B,)` in `[1, N]`.
        height, width: Python ints.

    Returns:
        `(level, position, levels)`: `L` (the levels' dtype), int32 `(B,)`
        `N - 1 - index` of the pixel of rank `k`, and the levels again (as
        they leave the search loop: later passes then read the int16 levels
        instead of recomputing them from the float field).
    """
    num_pixels = height * width
    value_bits, _ = _score_bits(num_pixels)
    k = tf.cast(k, tf.int32)
    if num_pixels < 2**16:
        level, above, levels = _search_levels_packed(levels, k, value_bits)
    else:
        def count_levels(threshold):
            return tf.reduce_sum(tf.cast(levels >= threshold[:, None], tf.int32), axis=1)

        level = _search_bits(count_levels, k, value_bits, levels.dtype)
        above = tf.reduce_sum(tf.cast(levels > level[:, None], tf.int32), axis=1)
    rank_in_tie = k - above  # in [1, count(level == L)]
    tied = tf.reshape(levels, [-1, height, width]) == level[:, None, None]
    level_per_row = tf.repeat(level, height)[:, None]
    row_counts = _row_sum(
        tf.reshape(levels, [-1, width]), lambda x: tf.cast(x == level_per_row, tf.int32)
    )
    row_counts = tf.reshape(row_counts, [-1, height])  # (B, H)
    before_row = tf.cumsum(row_counts, axis=1) < rank_in_tie[:, None]
    row = tf.reduce_sum(tf.cast(before_row, tf.int32), axis=1)
    rank_in_row = rank_in_tie - tf.reduce_sum(tf.where(before_row, row_counts, 0), axis=1)
    in_row = tf.cast(tf.gather(tied, row, axis=1, batch_dims=1), tf.int32)  # (B, W)
    column = tf.reduce_sum(
        tf.cast(tf.cumsum(in_row, axis=1) < rank_in_row[:, None], tf.int32), axis=1
    )
    return level, (num_pixels - 1) - (row * width + column), levels


def _top_k(levels, k, height, width):
    """Bool `(B, N)`: exactly `k[b]` pixels of the largest levels, ties in raster order."""
    num_pixels = height * width
    level, position, levels = _kth_largest(levels, tf.maximum(k, 1), height, width)
    pixel = (num_pixels - 1) - tf.range(num_pixels, dtype=tf.int32)
    above = (levels > level[:, None]) | (
        (levels == level[:, None]) & (pixel[None, :] >= position[:, None])
    )
    return above & (k > 0)[:, None]


def top_k_mask(values, k):
    """1 on exactly `k[b]` pixels of largest value in each row.

    Values are compared after quantisation to 15 bits (fewer above 256x256
    pixels); ties are taken in raster order, so the count is always exact.

    Args:
        values: float tensor `(B, H, W)` in [0, 1], static `H`, `W`.
        k: int32 tensor `(B,)` in `[0, H * W]`.

    Returns:
        bool tensor `(B, H * W)` with exactly `k[b]` True values per row.
    """
    height, width = values.shape[1], values.shape[2]
    n = height * width
    return _top_k(_levels(values, n), k, height, width)


def _area_counts(lam, seed, num_pixels):
    """`k = ceil(lam * N)` or `floor(lam * N)`, probability 1/2 each, int32 `(B,)`."""
    coin = tf.bitwise.right_shift(hashed_bits(tf.shape(lam), seed), tf.constant(31, tf.uint32))
    scaled = lam * num_pixels
    k = tf.cast(tf.where(tf.equal(coin, 1), tf.math.ceil(scaled), tf.floor(scaled)), tf.int32)
    return tf.clip_by_value(k, 0, num_pixels)


def _hard_masks(lam, seed_round, c_re, c_im, rows, cols, height, width):
    """Binary masks `(B, N)`: field, levels, exact top `k`."""
    n = height * width
    k = _area_counts(lam, seed_round, n)
    levels = _levels(_synthesise(c_re, c_im, rows, cols), n)
    return tf.cast(_top_k(levels, k, height, width), tf.float32)


def _soft_masks(lam, seed_round, c_re, c_im, rows, cols, max_soft, height, width):
    """Masks `(B, N)` with a linear ramp in field value between ranks `k -+ soft`."""
    n = height * width
    k = _area_counts(lam, seed_round, n)
    soft = tf.cast(tf.floor(n * tf.minimum(max_soft, tf.minimum(lam, 1.0 - lam))), tf.int32)
    field = _synthesise(c_re, c_im, rows, cols)
    values = tf.reshape(field, [tf.shape(k)[0], n])
    levels = _levels(field, n)
    hard = tf.cast(_top_k(levels, k, height, width), tf.float32)

    def value_at_rank(rank):
        _, position, _ = _kth_largest(levels, rank, height, width)
        return tf.gather(values, (n - 1) - position, batch_dims=1)

    upper = value_at_rank(tf.maximum(k - soft, 1))
    lower = value_at_rank(tf.clip_by_value(k + soft, 1, n))
    ramp = (values - lower[:, None]) / tf.maximum(upper - lower, 1e-12)[:, None]
    return tf.where(soft[:, None] > 0, tf.clip_by_value(ramp, 0.0, 1.0), hard)


# The draws, field, quantisation, the exact top-k search and the mask fuse
# into one XLA program: every pass of the search is one fused
# compare-and-count over the batch.
_hard_masks_xla = tf.function(_hard_masks, jit_compile=True, reduce_retracing=True, autograph=False)
_soft_masks_xla = tf.function(_soft_masks, jit_compile=True, reduce_retracing=True, autograph=False)


def fourier_masks(lam, height, width, seed, decay_power=3.0, max_soft=0.0, num_frequencies=12):
    """FMix own-pixel masks: one low-frequency mask per row with area `lam`.

    Args:
        lam: float32 tensor `(B,)`, the target share of each row's own pixels.
        height, width: ints `H`, `W` (static).
        seed: int, `keras.random.SeedGenerator` or `(2,)` int tensor.
        decay_power: float > 0. Larger values give smoother, blobbier masks.
        max_soft: float in [0, 0.5]. Width of a soft edge (FMix's `max_soft`):
            `s = floor(N * min(max_soft, lam, 1 - lam))`; the pixels ranked
            between `k - s` and `k + s` get a ramp from 1 to 0. kmix ramps
            linearly in field value between those two rank thresholds (the
            official code ramps linearly in rank).
        num_frequencies: int. Highest frequency kept per axis (cycles per image).

    Returns:
        float32 tensor `(B, H, W, 1)`: 1 keeps the own pixel. Without a soft
        edge it is binary with exactly `k` ones per row, `k = ceil(lam * N)` or
        `floor(lam * N)` with probability 1/2.

    Example:

    ```python
    import tensorflow as tf
    import kmix

    mask = kmix.ops.fourier_masks(tf.constant([0.3, 0.75]), 32, 32, seed=0)
    print(mask.shape)  # (2, 32, 32, 1)
    print(tf.reduce_sum(mask, axis=[1, 2, 3]).numpy().tolist())  # [307.0, 768.0]
    ```
    """
    lam = tf.cast(lam, tf.float32)
    seed_field, seed_round = split_seed(to_seed_tensor(seed), 2)
    batch_size = tf.shape(lam)[0]
    scale, rows, cols = _frequency_tables(height, width, num_frequencies, decay_power)
    c_re, c_im = (_coefficients_xla if _fused() else _coefficients)(seed_field, batch_size, scale)
    if not max_soft:
        mask = (_hard_masks_xla if _fused() else _hard_masks)(
            lam, seed_round, c_re, c_im, rows, cols, height, width
        )
    else:
        mask = (_soft_masks_xla if _fused() else _soft_masks)(
            lam, seed_round, c_re, c_im, rows, cols, float(max_soft), height, width
        )
    return tf.reshape(mask, [batch_size, height, width, 1])
