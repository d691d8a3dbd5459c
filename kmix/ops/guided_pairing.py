"""GuidedMixup's pairing and masks: smoothed saliency, greedy far pairs, saliency-ratio masks.

The official GuidedMixup (`3neutronstar/GuidedMixup`, `GuidedMixupLearner._train`
and `multi_greedy` / `pairing.pyx::onecycle_cover`) blurs each saliency map
(7 x 7 Gaussian), scales it to sum 1, pairs the images greedily so that paired
maps lie far apart (l2), and mixes pixel by pixel with the ratio of the two
maps. Static shapes; the greedy walk is one `tf.while_loop` of `B - 2` steps.
"""

import tensorflow as tf

from kmix.config import fused_kernels_enabled
from kmix.ops.spectral_residual import gaussian_blur

# Static batches of at least this size pair in one XLA kernel.
XLA_MIN_BATCH = 32
# Static maps of at least this many pixels (or an unknown batch) scale and mix in XLA kernels.
XLA_MIN_PIXELS = 1 << 16


def normalize_saliency(saliency, blur_size=7, blur_sigma=3.0):
    """Blurs saliency maps and scales each to sum 1 (official `sumto1`).

    A map that sums to 0 (a blank image) becomes uniform, where the official
    division gives NaN.

    Args:
        saliency: float `(B, H, W)`, non-negative.
        blur_size: odd int, the Gaussian kernel size; `0`: no blur.
        blur_sigma: float > 0, or float `(B,)` (one sigma per row).

    Returns:
        float32 `(B, H, W)`, each map summing to 1.
    """
    saliency = tf.cast(saliency, tf.float32)
    if blur_size:
        saliency = gaussian_blur(saliency, blur_size, blur_sigma)
    return (_sum_to_one_xla if _worth_fusing(saliency) else _sum_to_one)(saliency)


def _worth_fusing(maps):
    """Fused kernels on, and static maps with an unknown or at least `XLA_MIN_PIXELS` pixels."""
    shape = maps.shape
    if not fused_kernels_enabled() or shape.rank != 3 or shape[1] is None or shape[2] is None:
        return False
    return shape[0] is None or shape.num_elements() >= XLA_MIN_PIXELS


def _sum_to_one(saliency):
    """Each float32 map over its sum; a blank map uniform."""
    total = tf.reduce_sum(saliency, axis=[1, 2], keepdims=True)
    uniform = tf.ones_like(saliency) / tf.cast(tf.shape(saliency)[1] * tf.shape(saliency)[2], tf.float32)
    return tf.where(total > 0, saliency / tf.where(total > 0, total, 1.0), uniform)


_sum_to_one_xla = tf.function(_sum_to_one, jit_compile=True, autograph=False)


def saliency_distances(saliency):
    """The l2 distance between every two maps, float32 `(B, B)`.

    Computed as `|a|^2 + |b|^2 - 2 a.b` on maps centred on the batch mean
    (which leaves the distances unchanged and the cancellation small), so the
    memory is `O(B^2 + B H W)`, where the official broadcast takes
    `O(B^2 H W)`; the values agree to float32 rounding.

    Args:
        saliency: float `(B, H, W)`.

    Returns:
        float32 `(B, B)`, zero on the diagonal.
    """
    flat = tf.reshape(tf.cast(saliency, tf.float32), [tf.shape(saliency)[0], -1])
    flat = flat - tf.reduce_mean(flat, axis=0, keepdims=True)
    squares = tf.reduce_sum(flat * flat, axis=1)
    gram = tf.matmul(flat, flat, transpose_b=True)
    squared = tf.maximum(squares[:, None] + squares[None, :] - 2.0 * gram, 0.0)
    return tf.sqrt(squared) * (1.0 - tf.eye(tf.shape(flat)[0]))


def greedy_pairing(distances):
    """The official greedy pairing: one cycle through the batch, each step to the farthest free map.

    `onecycle_cover`: start from the farthest pair `(r0, c0)` of the matrix
    (first in row-major order on ties), then from `c0` go to the farthest map
    not yet left, and so on; the last map goes back to `r0`. Every row gets a
    partner other than itself (for `B >= 2`) and the partners form one cycle.
    The walk runs as one small XLA kernel when the fused kernels are on and
    the batch size is static and at least `XLA_MIN_BATCH` (a `B`-step loop
    costs little there).

    Args:
        distances: float `(B, B)`.

    Returns:
        int32 `(B,)`: row `i`'s partner.
    """
    distances = tf.cast(distances, tf.float32)
    if fused_kernels_enabled() and distances.shape[0] is not None and distances.shape[0] >= XLA_MIN_BATCH:
        return _greedy_pairing_xla(distances)
    return _greedy_pairing(distances)


def _greedy_pairing(distances):
    """`greedy_pairing` as plain TensorFlow ops."""
    distances = tf.cast(distances, tf.float32)
    size = tf.shape(distances)[0]
    positions = tf.range(size)
    distances = tf.where(tf.eye(size, dtype=tf.bool), -float("inf"), distances)
    first = tf.cast(tf.argmax(tf.reshape(distances, [-1]), output_type=tf.int32), tf.int32)
    first_row, first_col = first // size, first % size
    index = tf.tensor_scatter_nd_update(tf.zeros([size], tf.int32), [[first_row]], [first_col])
    left = tf.equal(positions, first_row)

    def step(i, col, index, left):
        row = col
        free = tf.where(left | tf.equal(positions, row), -float("inf"), distances[row])
        col = tf.argmax(free, output_type=tf.int32)
        index = tf.tensor_scatter_nd_update(index, [[row]], [col])
        return i + 1, col, index, left | tf.equal(positions, row)

    _, last, index, _ = tf.while_loop(
        lambda i, *_: i < size - 2, step, (tf.constant(0), first_col, index, left)
    )
    return tf.tensor_scatter_nd_update(index, [[last]], [first_row])


# XLA kernels (see `kmix.config.set_fused_kernels`): one pass instead of several.
_greedy_pairing_xla = tf.function(_greedy_pairing, jit_compile=True, autograph=False)


def guided_mask(saliency, index):
    """Each row's own-pixel weight: its normalised saliency over the pair's sum.

    `mask = s / (s + s[index])` (official `norm_sc_a`); the partner's weight is
    `1 - mask` (official `norm_sc_b`, equal to float rounding). A pixel where
    both maps are 0 gets 0.5 (the official division gives NaN).

    Args:
        saliency: float `(B, H, W)`, non-negative (normalised maps).
        index: int `(B,)`, the partners.

    Returns:
        float32 `(B, H, W)` in `[0, 1]`.
    """
    saliency = tf.cast(saliency, tf.float32)
    index = tf.convert_to_tensor(index, tf.int32)
    return (_ratio_xla if _worth_fusing(saliency) else _ratio)(saliency, index)


def _ratio(saliency, index):
    """`guided_mask` of float32 maps and int32 partners."""
    total = saliency + tf.gather(saliency, index)
    return tf.where(total > 0, saliency / tf.where(total > 0, total, 1.0), 0.5)


_ratio_xla = tf.function(_ratio, jit_compile=True, autograph=False)


__all__ = ["greedy_pairing", "guided_mask", "normalize_saliency", "saliency_distances"]
