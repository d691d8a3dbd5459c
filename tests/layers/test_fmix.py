"""FMix: exact area, the Fourier spectrum of ecs-vlc/FMix, soft edges, scopes."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
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


@pytest.mark.parametrize("lam_scope", ["batch", "sample"])
def test_exact_area_ceil_or_floor(lam_scope):
    layer = kmix.layers.FMix(alpha=1.0, lam_scope=lam_scope, seed=3)
    images = np.random.default_rng(0).random((6, 20, 12, 3)).astype("float32")
    for _ in range(3):
        plan = layer.sample_plan(images)
        mask = plan.mask.numpy()
        assert set(np.unique(mask)) <= {0.0, 1.0}
        k = mask.sum(axis=(1, 2, 3))
        np.testing.assert_allclose(plan.lam.numpy(), k / 240.0, atol=1e-6)
        if lam_scope == "batch":  # one lambda per batch: k differs by at most the coin
            assert k.max() - k.min() <= 1
        # a mask per row, even with one lambda per batch
        assert len({m.tobytes() for m in mask}) == len(mask)


def test_masks_are_low_frequency_blobs():
    """With decay power 3 the own region is a few large blobs, not noise."""
    images = np.zeros((8, 32, 32, 3), "float32")
    smooth = kmix.layers.FMix(decay_power=3.0, seed=0).sample_plan(images).mask.numpy()[..., 0]
    rough = kmix.layers.FMix(decay_power=0.5, num_frequencies=16, seed=0).sample_plan(images).mask.numpy()[..., 0]

    def boundary(masks):
        return (np.abs(np.diff(masks, axis=1)).sum() + np.abs(np.diff(masks, axis=2)).sum()) / len(masks)

    assert boundary(smooth) < 0.5 * boundary(rough)


def test_soft_edge_keeps_the_area_and_ramps():
    layer = kmix.layers.FMix(alpha=1.0, max_soft=0.1, lam_scope="sample", seed=5)
    images = np.zeros((8, 16, 16, 3), "float32")
    plan = layer.sample_plan(images)
    mask = plan.mask.numpy()
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    soft = ((mask > 0) & (mask < 1)).sum(axis=(1, 2, 3))
    assert soft.max() > 0  # some pixels are blended
    np.testing.assert_allclose(plan.lam.numpy(), mask.mean(axis=(1, 2, 3)), atol=1e-6)


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


def test_reformulate_draws_beta_alpha_plus_one():
    layer = kmix.layers.FMix(alpha=1.0, reformulate=True, lam_scope="sample", seed=0)
    images = np.zeros((512, 8, 8, 1), "float32")
    lam = layer.sample_plan(images).lam.numpy()
    # Beta(2, 1) has mean 2/3 (Beta(1, 1): 1/2)
    assert abs(lam.mean() - 2 / 3) < 0.04


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"decay_power": 0}, "decay_power"),
        ({"max_soft": 0.7}, "max_soft"),
        ({"num_frequencies": 0}, "num_frequencies"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kmix.layers.FMix(**kwargs)


def test_reformulate_must_be_bool():
    with pytest.raises(TypeError, match="reformulate"):
        kmix.layers.FMix(reformulate="yes")
