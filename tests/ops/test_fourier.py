"""kmix.ops.fourier: the FMix field against ecs-vlc/FMix's spectrum, exact top-k masks."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.ops import fourier
from kmix.ops.seeds import split_seed


def _official_field(c_re, c_im, height, width, decay_power):
    """ecs-vlc/FMix `sample_mask` field from given coefficients, with numpy's irfft2.

    `fftfreqnd` + `get_spectrum` + `irfftn`, then min-max normalised; the
    coefficients live on the full rfft grid here (zero where kmix drops them).
    """
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[: width // 2 + 1 + (width % 2)]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(height, width)) ** decay_power
    field = np.fft.irfftn((c_re + 1j * c_im) * scale[:, : width // 2 + 1], s=(height, width))
    field = field - field.min()
    return field / field.max()


@pytest.mark.parametrize("height,width", [(16, 16), (12, 20), (32, 32)])
def test_field_is_the_official_spectrum_on_the_kept_frequencies(height, width):
    decay = 3.0
    nf = 4
    scale, rows, cols = fourier._frequency_tables(height, width, nf, decay)
    rng = np.random.default_rng(0)
    ky, _, kx = scale.shape
    c_re = rng.normal(size=(ky, 1, kx)).astype(np.float32)
    c_im = rng.normal(size=(ky, 1, kx)).astype(np.float32)
    ours = fourier._synthesise(c_re * scale, c_im * scale, rows, cols).numpy()[0]

    # Place the same coefficients on the full rfft grid, zero elsewhere.
    ly = (ky - 1) // 2
    full_re = np.zeros((height, width // 2 + 1))
    full_im = np.zeros((height, width // 2 + 1))
    rows_idx = list(range(0, ly + 1)) + list(range(height - ly, height))
    full_re[rows_idx, :kx] = c_re[:, 0]
    full_im[rows_idx, :kx] = c_im[:, 0]
    expected = _official_field(full_re, full_im, height, width, decay)
    # irfftn treats the zero column's imaginary parts as a Hermitian pair where
    # kmix takes Re(sum); the fields agree up to that (tiny) term.
    corr = np.corrcoef(ours.ravel(), expected.ravel())[0, 1]
    assert corr > 0.999, corr


def test_top_k_mask_is_exact_with_ties():
    values = tf.constant(np.full((3, 8, 8), 0.5, np.float32))
    k = tf.constant([0, 17, 64])
    mask = fourier.top_k_mask(values, k).numpy()
    np.testing.assert_array_equal(mask.sum(1), [0, 17, 64])
    assert mask[1, :17].all()  # ties go in raster order


@pytest.mark.parametrize("jit", [False, True])
def test_same_mask_count_under_xla_and_graph(jit):
    lam = tf.constant([0.1, 0.5, 0.93])
    fn = tf.function(lambda l: fourier.fourier_masks(l, 24, 24, tf.constant([1, 2])), jit_compile=jit)
    mask = fn(lam).numpy()
    k = mask.sum(axis=(1, 2, 3))
    assert np.all(np.abs(k - lam.numpy() * 576) <= 1)


def _score_order_masks(values, k):
    """Numpy reference: the top `k` of the scores `level * 2**pb + (N - 1 - index)`."""
    b, h, w = values.shape
    n = h * w
    value_bits, position_bits = fourier._score_bits(n)
    levels = np.round(values.reshape(b, n).astype(np.float32) * (2**value_bits - 1)).astype(np.int64)
    scores = levels * 2**position_bits + (n - 1 - np.arange(n))
    masks = np.zeros((b, n), bool)
    for row in range(b):
        masks[row, np.argsort(-scores[row], kind="stable")[: k[row]]] = True
    return masks


def test_top_k_mask_is_the_score_order_eagerly_and_under_xla():
    rng = np.random.default_rng(1)
    values = rng.random((6, 12, 20)).astype(np.float32)
    values[0] = 0.5  # one level: raster order only
    values[1] = np.round(values[1] * 5) / 5  # many ties
    values[2, :3] = values[2, 3:6]  # a few ties
    k = np.array([100, 57, 240, 0, 1, 239], np.int32)
    expected = _score_order_masks(values, k)
    np.testing.assert_array_equal(fourier.top_k_mask(values, k).numpy(), expected)
    xla = tf.function(fourier.top_k_mask, jit_compile=True)
    np.testing.assert_array_equal(xla(tf.constant(values), tf.constant(k)).numpy(), expected)



def test_top_k_mask_above_two_to_the_sixteen_pixels_counts_one_threshold_a_pass():
    # N >= 2**16: the packed two-threshold counts could overflow, the search
    # falls back to one threshold a pass; the same score order.
    rng = np.random.default_rng(2)
    values = np.round(rng.random((2, 256, 256)) * 300).astype(np.float32) / 300
    k = np.array([1000, 40000], np.int32)
    expected = _score_order_masks(values, k)
    np.testing.assert_array_equal(fourier.top_k_mask(values, k).numpy(), expected)


def test_ternary_search_passes_cover_every_level():
    # After the fixed number of passes the interval [lo, hi) holds one level.
    for bits in range(1, 16):
        d = 2**bits
        for _ in range(fourier._ternary_passes(2**bits)):
            t1, t2 = (d + 1) // 3, (2 * d + 1) // 3
            d = max(t1, t2 - t1, d - t2)
        assert d == 1, bits
    assert fourier._ternary_passes(2**15) == 10

def test_box_muller_coefficients_are_independent_standard_normals():
    uniforms = tf.random.stateless_uniform([2, 100, 200, 1], [4, 5])
    re, im = (c.numpy().ravel() for c in fourier._gaussian_coefficients(uniforms, 1.0))
    for c in (re, im):
        assert abs(c.mean()) < 0.03 and abs(c.std() - 1.0) < 0.03
        assert abs((c > 1.96).mean() - 0.025) < 0.005  # Gaussian tails
    assert abs(np.corrcoef(re, im)[0, 1]) < 0.03


def test_soft_mask_is_one_above_and_zero_below_the_ramp_ranks():
    lam = tf.constant([0.3, 0.6])
    n = 16 * 16
    mask = fourier.fourier_masks(lam, 16, 16, seed=3, max_soft=0.1).numpy().reshape(2, n)
    field = fourier.fourier_fields(2, 16, 16, seed=split_seed(tf.constant([3, 0]), 2)[0])
    for row, l in enumerate(lam.numpy()):
        soft = int(np.floor(n * min(0.1, l, 1 - l)))
        order = np.argsort(-_score_rank_keys(field.numpy()[row]), kind="stable")
        ranked = mask[row, order]
        assert (ranked[: int(l * n) - soft - 1] == 1).all()
        assert (ranked[int(np.ceil(l * n)) + soft + 1 :] == 0).all()
        assert ((ranked > 0) & (ranked < 1)).any()


def _score_rank_keys(field):
    n = field.size
    value_bits, position_bits = fourier._score_bits(n)
    levels = np.round(field.ravel().astype(np.float32) * (2**value_bits - 1)).astype(np.int64)
    return levels * 2**position_bits + (n - 1 - np.arange(n))


def test_fused_and_plain_masks_agree():
    lam = tf.constant([0.2, 0.5, 0.9])
    fused = fourier.fourier_masks(lam, 20, 24, seed=7).numpy()
    kmix.config.set_fused_kernels(False)
    try:
        plain = fourier.fourier_masks(lam, 20, 24, seed=7).numpy()
    finally:
        kmix.config.set_fused_kernels(True)
    np.testing.assert_array_equal(fused.sum(axis=(1, 2, 3)), plain.sum(axis=(1, 2, 3)))
    assert (fused != plain).sum() <= 2  # float rounding of the field may swap a pixel pair
