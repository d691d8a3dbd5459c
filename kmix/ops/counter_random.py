"""Counter-based uniforms from an integer hash: the same values in every mode, cheap under XLA.

`hashed_uniform(shape, seed)` gives value `i` (row-major position) as a
keyed hash of `i`: two rounds of Chris Wellons' `lowbias32` integer
permutation (xor-shifts and multiplications on uint32), keyed by the seed
through the same permutation. Each round is a bijection of the 32-bit
integers, so for one seed distinct positions never share a hash.

Why not TensorFlow's Philox (`tf.random.stateless_uniform`): its CPU kernel
and its XLA expansion give different values for one seed, and under XLA on
CPU each Philox value expands into scalar code about ten times slower than
the CPU kernel. The hash is a dozen elementwise integer ops that XLA fuses
into the consumer of the draws, and every mode (plain TensorFlow ops,
`jit_compile=True`, any device) computes the same bits. kmix uses it where a
mixer draws many values inside a fused kernel (FMix's Fourier coefficients);
the few per-row draws of a plan stay on the stateless Philox ops.
"""

import tensorflow as tf

from kmix.ops.seeds import to_seed_tensor

# lowbias32's constants (Wellons, "Hash Prospector", 2018).
_MUL1 = 0x7FEB352D
_MUL2 = 0x846CA68B
_GOLDEN32 = 0x9E3779B9
# float32 uniforms keep the top 24 bits: multiples of 2**-24 in [0, 1 - 2**-24].
_UNIT = 1.0 / (1 << 24)


def _lowbias32(x):
    """Wellons' `lowbias32` permutation of uint32 values (bias 0.17 avalanche)."""
    xor, shift = tf.bitwise.bitwise_xor, tf.bitwise.right_shift
    x = xor(x, shift(x, tf.constant(16, tf.uint32))) * tf.constant(_MUL1, tf.uint32)
    x = xor(x, shift(x, tf.constant(15, tf.uint32))) * tf.constant(_MUL2, tf.uint32)
    return xor(x, shift(x, tf.constant(16, tf.uint32)))


def _keys(seed):
    """Two uint32 round keys from a `(2,)` int32 seed; both words and their order matter."""
    words = tf.bitcast(to_seed_tensor(seed), tf.uint32)
    first = _lowbias32(tf.bitwise.bitwise_xor(words[0], tf.constant(_GOLDEN32, tf.uint32)))
    second = _lowbias32(tf.bitwise.bitwise_xor(words[1], first))
    return first, second


def hashed_bits(shape, seed):
    """uint32 hash values of shape `shape`: value `i` is a keyed hash of its position `i`.

    Args:
        shape: list of ints or int32 tensor `(rank,)`; fewer than `2**31` values.
        seed: int, `keras.random.SeedGenerator` or `(2,)` int tensor.

    Returns:
        uint32 tensor of `shape`.
    """
    first, second = _keys(seed)
    shape = tf.cast(shape, tf.int32)
    count = tf.reduce_prod(shape)
    position = tf.bitcast(tf.range(count, dtype=tf.int32), tf.uint32)
    bits = _lowbias32(_lowbias32(tf.bitwise.bitwise_xor(position, first)) + second)
    return tf.reshape(bits, shape)


def hashed_uniform(shape, seed):
    """float32 uniforms in `[0, 1)` (multiples of `2**-24`), the same in every mode.

    Same seed, same values: in plain TensorFlow ops, under `jit_compile=True`
    and on any device (integer ops only up to the final scaling).

    Args:
        shape: list of ints or int32 tensor `(rank,)`; fewer than `2**31` values.
        seed: int, `keras.random.SeedGenerator` or `(2,)` int tensor.

    Returns:
        float32 tensor of `shape`.

    Example:

    ```python
    import tensorflow as tf
    import kmix

    u = kmix.ops.hashed_uniform([2, 3], seed=0)
    xla = tf.function(kmix.ops.hashed_uniform, jit_compile=True)
    print(bool(tf.reduce_all(u == xla(tf.constant([2, 3]), tf.constant([0, 0])))))  # True
    ```
    """
    bits = tf.bitwise.right_shift(hashed_bits(shape, seed), tf.constant(8, tf.uint32))
    return tf.cast(bits, tf.float32) * _UNIT


__all__ = ["hashed_bits", "hashed_uniform"]
