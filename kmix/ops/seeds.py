"""Seed handling: every random op in kmix takes an explicit seed."""

import itertools
import threading
import weakref

import keras
import numpy as np
import tensorflow as tf

from kmix._compat import in_xla_context

_sections = weakref.WeakKeyDictionary()
_section_ids = itertools.count()
_sections_lock = threading.Lock()


def _critical_section(generator):
    """The one `tf.CriticalSection` that guards `generator`'s state."""
    with _sections_lock:
        section = _sections.get(generator)
        if section is None:
            # A unique shared name: created eagerly, every unnamed mutex gets
            # the same empty resource name, so two sections would be one
            # mutex behind two handles, and a graph that draws from two
            # generators would deadlock.
            with tf.init_scope():
                section = tf.CriticalSection(
                    shared_name=f"kmix_seed_draw_{next(_section_ids)}")
            _sections[generator] = section
        return section


def draw_seed(generator):
    """Draws the next seed of a `keras.random.SeedGenerator`, atomically.

    `SeedGenerator.next()` reads its state and then writes it back advanced:
    two calls that run at the same time (a `tf.data` map with
    `num_parallel_calls`, whose calls run concurrently on one traced
    function) can read the same state and draw the same seed, so two batches
    would share a mixing plan. In a traced graph the read and the write run
    here inside one `tf.CriticalSection`, so every call gets its own seed and
    the state advances by exactly one per call; a sequential pipeline draws
    the same seeds as before. Eager calls and XLA-compiled steps (one step
    runs at a time per replica; XLA has no mutex kernel) use `next()` as is.

    Args:
        generator: a `keras.random.SeedGenerator`.

    Returns:
        An int32 tensor of shape `(2,)`.
    """
    if tf.executing_eagerly() or in_xla_context():
        return tf.cast(generator.next(), tf.int32)

    def read_and_advance():
        # `SeedGenerator.next()` (ordered) on the state variable's handle,
        # with the write a dependency of the result: the section releases its
        # lock once the result is computed, so the write must be done by then.
        handle = generator.state.handle
        old = tf.raw_ops.ReadVariableOp(resource=handle, dtype=generator.state.dtype)
        write = tf.raw_ops.AssignVariableOp(
            resource=handle, value=old + tf.constant([0, 1], old.dtype)
        )
        with tf.control_dependencies([write]):
            return tf.identity(old)

    return tf.cast(_critical_section(generator).execute(read_and_advance), tf.int32)


def to_seed_tensor(seed, name="seed"):
    """Converts a kmix seed argument to a stateless `(2,)` int32 seed tensor.

    Args:
        seed: an int, a `keras.random.SeedGenerator` (advanced by one draw,
            atomically: see `draw_seed`), or an integer tensor of shape `(2,)`
            (used as is).
        name: str. The argument name used in error messages.

    Returns:
        An int32 tensor of shape `(2,)` for `tf.random.stateless_*` ops.
    """
    if isinstance(seed, keras.random.SeedGenerator):
        return draw_seed(seed)
    if isinstance(seed, bool) or seed is None:
        raise TypeError(
            f"`{name}` must be an int, a `keras.random.SeedGenerator` or an "
            f"integer tensor of shape (2,). Received: {name}={seed!r}"
        )
    if isinstance(seed, (int, np.integer)):
        seed = int(seed)
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


_MASK32 = 0xFFFFFFFF
_GOLDEN32 = 0x9E3779B9


def _mix32(x, c):
    """MurmurHash3's 32-bit finaliser on int64 tensors holding 32-bit values.

    `c` holds the constants as tensors, made once per `split_seed` call: every
    Python literal in a traced op becomes a graph node of its own.
    """
    xor, shift, mask = tf.bitwise.bitwise_xor, tf.bitwise.right_shift, tf.bitwise.bitwise_and
    x = mask(xor(x, shift(x, c["16"])) * c["m1"], c["mask"])
    x = mask(xor(x, shift(x, c["13"])) * c["m2"], c["mask"])
    return xor(x, shift(x, c["16"]))


def split_seed(seed, num):
    """Splits a `(2,)` seed into `num` independent `(2,)` seeds (a Python list).

    Each child is an integer hash of the parent and the child's position
    (MurmurHash3's finaliser over both words), so children of children never
    collide with their uncles. TensorFlow's stateless ops scramble every seed
    through a Philox round before use (`StatelessRandomGetKeyCounter`), so
    distinct seeds give independent streams. Unlike
    `tf.random.experimental.stateless_split`, which draws the children with a
    Philox random op, this is a few integer ops: a mixing plan splits its seed
    several times, and under XLA every random op is expanded into hundreds of
    instructions, which doubled the compile time of a mixer's step.

    Args:
        seed: int32 or int64 tensor `(2,)`.
        num: int, the number of children.

    Returns:
        A list of `num` int32 tensors `(2,)`.
    """
    xor, mask = tf.bitwise.bitwise_xor, tf.bitwise.bitwise_and
    c = {name: tf.constant(value, tf.int64) for name, value in
         (("16", 16), ("13", 13), ("m1", 0x85EBCA6B), ("m2", 0xC2B2AE35), ("mask", _MASK32))}
    word0, word1 = tf.unstack(mask(tf.cast(seed, tf.int64), c["mask"]), num=2)
    salt = mask(tf.range(1, num + 1, dtype=tf.int64) * _GOLDEN32, c["mask"])  # (num,)
    first = _mix32(xor(word0, salt), c)
    second = _mix32(xor(word1, _mix32(mask(first + salt, c["mask"]), c)), c)
    children = tf.stack([first, second], axis=1)  # (num, 2), values in [0, 2**32)
    # Back to int32 bits (two's complement), as the stateless ops take them.
    children = tf.cast(tf.where(children >= 2**31, children - 2**32, children), tf.int32)
    return tf.unstack(children, num=num)
