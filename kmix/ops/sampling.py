"""Random draws for mixing plans; every op here compiles under XLA."""

import tensorflow as tf

from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import check_positive
from kmix.ops.validation import is_real_scalar
from kmix.ops.validation import check_one_of

PARTNER_MODES = ("permute", "flip", "roll", "shuffle")

# Marsaglia-Tsang proposals per draw. With shape >= 1 each proposal is
# accepted with probability > 0.95, so 8 proposals all fail with probability
# below 1e-10; the (unreachable in practice) fallback is the gamma mode.
_NUM_PROPOSALS = 8


def _log_gamma_sample(concentration, uniforms):
    """log of Gamma(concentration, 1) draws, built from uniform draws.

    Marsaglia & Tsang (2000) for a shape >= 1 with a fixed number of vectorised
    proposals; shapes below 1 use the boost `G(a) = G(a + 1) * U ** (1 / a)`,
    carried out in log space so that tiny shapes do not underflow.

    Args:
        concentration: float32 tensor of the output's shape `S`.
        uniforms: float32 uniforms in `[0, 1)` of shape `S + (2 * P + 1,)`,
            `P = _NUM_PROPOSALS`: the proposals' normals (through the inverse
            normal CDF), their acceptance uniforms, and the boost uniform. One
            random op feeds all of them: under XLA each random op expands to
            hundreds of instructions.
    """
    small = concentration < 1.0
    boosted = tf.where(small, concentration + 1.0, concentration)
    d = boosted - 1.0 / 3.0
    c = 1.0 / tf.sqrt(9.0 * d)

    # Normals by the inverse CDF of uniforms kept inside (0, 1).
    tiny = 1e-7
    x = tf.math.ndtri(tf.clip_by_value(uniforms[..., :_NUM_PROPOSALS], tiny, 1.0 - tiny))
    u = 1.0 - uniforms[..., _NUM_PROPOSALS:2 * _NUM_PROPOSALS]  # (0, 1]
    d_ = d[..., None]
    v = 1.0 + c[..., None] * x
    v3 = v * v * v
    safe_v3 = tf.where(v3 > 0.0, v3, tf.ones_like(v3))
    accept = (v3 > 0.0) & (
        tf.math.log(u) < 0.5 * x * x + d_ - d_ * safe_v3 + d_ * tf.math.log(safe_v3)
    )
    first = tf.argmax(tf.cast(accept, tf.int32), axis=-1, output_type=tf.int32)
    chosen = tf.reduce_sum(
        safe_v3 * tf.one_hot(first, _NUM_PROPOSALS, dtype=safe_v3.dtype), axis=-1
    )
    any_accepted = tf.reduce_any(accept, axis=-1)
    log_value = tf.math.log(d) + tf.math.log(tf.where(any_accepted, chosen, 1.0))

    boost_u = 1.0 - uniforms[..., 2 * _NUM_PROPOSALS]  # (0, 1]
    log_boost = tf.math.log(boost_u) / concentration
    return tf.where(small, log_value + log_boost, log_value)


def sample_beta(shape, alpha, seed, beta=None):
    """Draws Beta(alpha, beta) samples with ops that compile under XLA.

    TensorFlow's gamma op (behind `keras.random.beta` and `tf.random.gamma`) has no
    XLA kernel, so `jit_compile=True` training steps that sample a mixing ratio
    with it fail. This sampler builds each Gamma draw from normal and uniform
    draws (Marsaglia-Tsang) and returns `X / (X + Y)` computed as a sigmoid of
    log-gammas, which stays accurate for concentrations well below 1.

    Args:
        shape: tuple of ints or int tensor. Output shape.
        alpha: float > 0 or float tensor broadcastable to `shape`.
        seed: int, `keras.random.SeedGenerator` or `(2,)` int tensor.
        beta: optional second concentration; defaults to `alpha` (symmetric).

    Returns:
        float32 tensor of `shape`, values in `[0, 1]`.

    Example:

    ```python
    import kmix

    lam = kmix.ops.sample_beta((4,), alpha=0.2, seed=0)
    print(lam.shape)  # (4,)
    ```
    """
    if is_real_scalar(alpha):
        alpha = check_positive(alpha, "alpha")
    if beta is None:
        beta = alpha
    elif is_real_scalar(beta):
        beta = check_positive(beta, "beta")
    seed = to_seed_tensor(seed)
    shape = tf.convert_to_tensor(shape, tf.int32)
    # One uniform draw for both gammas: (2,) + shape + (2 * P + 1,).
    uniforms = tf.random.stateless_uniform(
        tf.concat([[2], shape, [2 * _NUM_PROPOSALS + 1]], axis=0), seed
    )
    log_x = _log_gamma_sample(tf.broadcast_to(tf.cast(alpha, tf.float32), shape), uniforms[0])
    log_y = _log_gamma_sample(tf.broadcast_to(tf.cast(beta, tf.float32), shape), uniforms[1])
    return tf.sigmoid(log_x - log_y)


def sample_partner_index(batch_size, seed, mode="permute"):
    """Chooses the partner of every row of a batch.

    Args:
        batch_size: int or scalar int32 tensor `B`.
        seed: int, `keras.random.SeedGenerator` or `(2,)` int tensor. Used by
            `"permute"` only.
        mode: one of
            - `"permute"` (default): a random derangement. A random order of the
              batch is drawn and each row is paired with the next row in that
              order (one cycle through the batch), so no row mixes with itself.
            - `"flip"`: row `i` with row `B - 1 - i`, as timm; for an odd batch
              the middle row is its own partner (left unmixed).
            - `"roll"`: row `i` with row `i - 1`, as torchvision and KerasAug.
            - `"shuffle"`: a uniformly random permutation (`torch.randperm`, as
              the official MixUp and MIX-KD code): a row may be its own partner
              (left unmixed).

    Returns:
        int32 tensor `(B,)`. For `B == 1` it is `[0]`.

    Example:

    ```python
    import kmix

    index = kmix.ops.sample_partner_index(5, seed=0)
    print(sorted(index.numpy().tolist()))  # [0, 1, 2, 3, 4]
    ```
    """
    check_one_of(mode, "partner", PARTNER_MODES)
    batch_size = tf.convert_to_tensor(batch_size, tf.int32)
    rows = tf.range(batch_size, dtype=tf.int32)
    if mode == "flip":
        return batch_size - 1 - rows
    if mode == "roll":
        return tf.math.floormod(rows - 1, batch_size)
    seed = to_seed_tensor(seed)
    order = tf.argsort(
        tf.random.stateless_uniform(tf.reshape(batch_size, [1]), seed), stable=True
    )
    order = tf.cast(order, tf.int32)
    if mode == "shuffle":
        return order
    following = tf.roll(order, shift=-1, axis=0)
    # index[order[k]] = order[k + 1]
    return tf.scatter_nd(order[:, None], following, tf.reshape(batch_size, [1]))


def sample_uniform(shape, seed, minval=0.0, maxval=1.0):
    """float32 uniform draws in `[minval, maxval)` from a stateless seed."""
    return tf.random.stateless_uniform(
        shape, to_seed_tensor(seed), minval=minval, maxval=maxval
    )


def sample_int(shape, seed, maxval):
    """int32 draws uniform over `{0, ..., maxval - 1}`; `maxval` may be a tensor.

    Implemented as `floor(u * maxval)` so that `maxval` may vary per element
    (a tensor broadcastable to `shape`); `maxval` must be >= 1.
    """
    u = tf.random.stateless_uniform(shape, to_seed_tensor(seed))
    maxval = tf.cast(maxval, tf.float32)
    value = tf.cast(tf.floor(u * maxval), tf.int32)
    return tf.minimum(value, tf.cast(maxval, tf.int32) - 1)


__all__ = [
    "sample_beta",
    "sample_partner_index",
    "sample_uniform",
    "sample_int",
    "PARTNER_MODES",
]
