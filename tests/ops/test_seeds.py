"""kmix.ops.seeds: atomic draws from a keras.random.SeedGenerator."""

import threading

import keras
import numpy as np
import tensorflow as tf

import kmix
from kmix.ops.seeds import draw_seed


def _finishes(fn, timeout=60):
    """Runs `fn` in a daemon thread; False if it has not returned in `timeout` s."""
    done = []
    thread = threading.Thread(target=lambda: done.append(fn()), daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(done)


def test_draws_follow_the_generator_in_every_mode():
    # Eager, traced and XLA draws all give the seed `SeedGenerator.next()` gives.
    reference = keras.random.SeedGenerator(11)
    expected = [reference.next().numpy().tolist() for _ in range(3)]
    generator = keras.random.SeedGenerator(11)
    got = [draw_seed(generator).numpy().tolist(),
           tf.function(lambda: draw_seed(generator))().numpy().tolist(),
           tf.function(lambda: draw_seed(generator), jit_compile=True)().numpy().tolist()]
    assert got == expected
    assert generator.state.numpy().tolist() == [11, 3]


def test_concurrent_draws_of_a_parallel_map_are_all_different():
    generator = keras.random.SeedGenerator(3)
    ds = tf.data.Dataset.range(300).map(lambda _: draw_seed(generator), num_parallel_calls=16)
    seeds = [tuple(s.numpy().tolist()) for s in ds]
    assert sorted(seeds) == [(3, i) for i in range(300)]
    assert generator.state.numpy().tolist() == [3, 300]


def test_two_generators_in_one_graph_do_not_deadlock():
    # Regression: sections created without a shared name were one mutex behind
    # two handles, and a graph that drew from two generators never returned.
    first, second = keras.random.SeedGenerator(1), keras.random.SeedGenerator(2)
    step = tf.function(lambda: draw_seed(first) + draw_seed(second))
    assert _finishes(lambda: [step() for _ in range(20)])
    cutmix, mixup = kmix.layers.CutMix(num_classes=3, seed=1), kmix.layers.MixUp(num_classes=3, seed=2)
    both = tf.function(lambda x, y: mixup(*cutmix(x, y)))
    x, y = tf.random.uniform((4, 8, 8, 3)), tf.constant([0, 1, 2, 0])
    assert _finishes(lambda: [both(x, y) for _ in range(20)])
    assert cutmix.generator.state.numpy()[1] == mixup.generator.state.numpy()[1] == 20
    np.testing.assert_allclose(both(x, y)[1].numpy().sum(-1), 1.0, rtol=1e-6)
