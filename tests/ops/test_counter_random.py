"""kmix.ops.counter_random: hashed uniforms, the same in every mode, uniform and independent."""

import numpy as np
import pytest
import tensorflow as tf

from kmix.ops import counter_random
from kmix.ops import fourier


def _lowbias32_numpy(x):
    x = x.astype(np.uint64)
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


def _hashed_bits_numpy(count, seed):
    """An independent numpy restatement of `hashed_bits` (uint64 arithmetic masked to 32 bits)."""
    words = (np.array(seed, np.int64) & 0xFFFFFFFF).astype(np.uint64)
    first = _lowbias32_numpy(words[:1] ^ np.uint64(0x9E3779B9))[0]
    second = _lowbias32_numpy(words[1:] ^ first)[0]
    position = np.arange(count, dtype=np.uint64)
    return _lowbias32_numpy((_lowbias32_numpy(position ^ first) + second) & 0xFFFFFFFF)


@pytest.mark.parametrize("seed", [(0, 0), (5, -3), (-2147483648, 2147483647)])
def test_bits_match_a_numpy_restatement(seed):
    bits = counter_random.hashed_bits([7, 11], tf.constant(seed, tf.int32)).numpy()
    np.testing.assert_array_equal(bits.ravel(), _hashed_bits_numpy(77, seed).astype(np.uint32))


def test_same_values_in_plain_ops_and_under_xla():
    shape, seed = tf.constant([3, 50, 7]), tf.constant([12, -7])
    plain = tf.function(counter_random.hashed_uniform)(shape, seed)
    xla = tf.function(counter_random.hashed_uniform, jit_compile=True)(shape, seed)
    np.testing.assert_array_equal(plain.numpy(), xla.numpy())
    np.testing.assert_array_equal(plain.numpy(), counter_random.hashed_uniform([3, 50, 7], seed).numpy())


def test_uniform_in_the_unit_interval_and_independent():
    values = counter_random.hashed_uniform([1 << 20], tf.constant([5, -3])).numpy()
    assert values.min() >= 0.0 and values.max() < 1.0
    counts, _ = np.histogram(values, bins=64, range=(0.0, 1.0))
    expected = values.size / 64
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 120, chi2  # 63 degrees of freedom: p < 1e-5 above 120
    assert abs(np.corrcoef(values[:-1], values[1:])[0, 1]) < 0.005  # neighbours
    assert abs(np.corrcoef(values[:-64], values[64:])[0, 1]) < 0.005  # a row apart


def test_every_seed_word_and_their_order_matter():
    draw = lambda seed: counter_random.hashed_uniform([4096], tf.constant(seed)).numpy()  # noqa: E731
    base = draw([3, 4])
    for other in ([3, 5], [4, 4], [4, 3]):
        values = draw(other)
        assert (values != base).mean() > 0.99
        assert abs(np.corrcoef(values, base)[0, 1]) < 0.06


def test_sincos_of_a_turn_fraction_matches_numpy():
    u = np.concatenate([np.linspace(0.0, 1.0, 100001), [0.125, 0.375, 0.625, 0.875, 1 - 2**-24]])
    sin, cos = fourier._sincos_2pi(tf.constant(u, tf.float32))
    angle = 2 * np.pi * u.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(sin.numpy(), np.sin(angle), atol=1e-6)
    np.testing.assert_allclose(cos.numpy(), np.cos(angle), atol=1e-6)


def test_fmix_coefficients_are_independent_standard_normals():
    # The scale is 1 everywhere: (Ky, 1, Kx) = (40, 1, 50), 200 rows.
    re, im = fourier._coefficients(tf.constant([9, 1]), 200, tf.ones([40, 1, 50]))
    re, im = re.numpy().ravel(), im.numpy().ravel()
    for c in (re, im):
        assert abs(c.mean()) < 0.01 and abs(c.std() - 1.0) < 0.01
        assert abs((c > 1.96).mean() - 0.025) < 0.002  # Gaussian tails
        assert abs((np.abs(c) > 3.0).mean() - 0.0027) < 0.0005
    assert abs(np.corrcoef(re, im)[0, 1]) < 0.01
