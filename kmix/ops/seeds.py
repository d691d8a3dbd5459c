"""Seed handling: every random op in kmix takes an explicit seed."""

import keras
import tensorflow as tf


def to_seed_tensor(seed, name="seed"):
    """Converts a kmix seed argument to a stateless `(2,)` int32 seed tensor.

    Args:
        seed: an int, a `keras.random.SeedGenerator` (advanced by one draw), or
            an integer tensor of shape `(2,)` (used as is).
        name: str. The argument name used in error messages.

    Returns:
        An int32 tensor of shape `(2,)` for `tf.random.stateless_*` ops.
    """
    if isinstance(seed, keras.random.SeedGenerator):
        return tf.cast(seed.next(), tf.int32)
    if isinstance(seed, bool) or seed is None:
        raise TypeError(
            f"`{name}` must be an int, a `keras.random.SeedGenerator` or an "
            f"integer tensor of shape (2,). Received: {name}={seed!r}"
        )
    if isinstance(seed, int):
        # Re-interpret as int32 bits so that any Python int is accepted.
        value = (seed & 0xFFFFFFFF ^ 0x80000000) - 0x80000000
        return tf.constant([value, 0], tf.int32)
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer or seed.shape.rank != 1 or seed.shape[0] != 2:
        raise TypeError(
            f"`{name}` must be an int, a `keras.random.SeedGenerator` or an "
            f"integer tensor of shape (2,). Received: {name} with "
            f"dtype={seed.dtype.name} and shape={tuple(seed.shape)}"
        )
    return tf.cast(seed, tf.int32)


def split_seed(seed, num):
    """Splits a `(2,)` seed into `num` independent `(2,)` seeds (a Python list)."""
    seeds = tf.random.experimental.stateless_split(seed, num=num)
    return [seeds[i] for i in range(num)]
