"""kmix.ops.fourier: the FMix field against ecs-vlc/FMix's spectrum, exact top-k masks."""

import numpy as np
import pytest
import tensorflow as tf

from kmix.ops import fourier


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
    scale, rows, ex_re, ex_im = fourier._frequency_tables(height, width, nf, decay)
    rng = np.random.default_rng(0)
    ky, kx = scale.shape
    c_re = rng.normal(size=(1, ky, kx)).astype(np.float32)
    c_im = rng.normal(size=(1, ky, kx)).astype(np.float32)
    ours = fourier._synthesise(c_re * scale, c_im * scale, rows, ex_re, ex_im).numpy()[0]

    # Place the same coefficients on the full rfft grid, zero elsewhere.
    ly = (ky - 1) // 2
    full_re = np.zeros((height, width // 2 + 1))
    full_im = np.zeros((height, width // 2 + 1))
    rows_idx = list(range(0, ly + 1)) + list(range(height - ly, height))
    full_re[rows_idx, :kx] = c_re[0]
    full_im[rows_idx, :kx] = c_im[0]
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
