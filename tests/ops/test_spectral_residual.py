"""The spectral-residual saliency equals the official GuidedMixup `SpectralResidual`."""

import importlib.util

import numpy as np
import pytest

import kmix.config
from kmix.ops import spectral_residual as sr
from tests import vectors

_spec = importlib.util.spec_from_file_location(
    "guidedmixup_numpy_ref", vectors.VECTORS / "guidedmixup_numpy_ref.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

DATA = vectors.load("guidedmixup")


def official_images(case):
    """The case's images, NCHW float32 in [0, 1] (regenerated when not stored)."""
    if "pixels" in case:
        pixels = vectors.array(case["pixels"])
    else:
        pixels = np.random.RandomState(case["random_state_seed"]).randint(0, 256, size=case["shape"])
    return (pixels.astype(np.uint8).astype(np.float32) / 255.0)


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_equals_the_official_maps(case):
    # `resized` (136 x 144) goes through the official resize to 128 x 128 and
    # back; it is stored at every 9th pixel, with each map's sum.
    images = official_images(case)
    got = sr.spectral_residual_saliency(images.transpose(0, 2, 3, 1)).numpy()
    stride = case["stride"] or 1
    np.testing.assert_allclose(got[:, ::stride, ::stride], vectors.array(case["saliency"]), rtol=2e-5, atol=1e-9)
    if "saliency_row_sums" in case:
        np.testing.assert_allclose(got.sum((1, 2)), vectors.array(case["saliency_row_sums"]), rtol=1e-5)
    first = sr.spectral_residual_saliency(images, channels_first=True).numpy()
    np.testing.assert_allclose(first, got, rtol=1e-6, atol=1e-9)


def test_equals_the_numpy_restatement_on_other_images():
    images = np.random.default_rng(3).random((3, 3, 10, 14)).astype(np.float32)
    got = sr.spectral_residual_saliency(images, channels_first=True).numpy()
    np.testing.assert_allclose(got, ref.spectral_residual(images.astype(np.float64)), rtol=1e-4, atol=1e-7)


def test_grayscale_and_blur_filters():
    images = np.random.default_rng(0).random((2, 9, 11, 3)).astype(np.float32)
    np.testing.assert_allclose(sr.to_grayscale(images).numpy(), ref.grayscale(images.transpose(0, 3, 1, 2)), rtol=1e-6)
    # One channel is itself; other counts (refused by torchvision) the channel mean.
    np.testing.assert_allclose(sr.to_grayscale(images[..., :1]).numpy(), images[..., 0])
    np.testing.assert_allclose(sr.to_grayscale(images[..., :2]).numpy(), images[..., :2].mean(-1), rtol=1e-6)
    maps = images[..., 0]
    np.testing.assert_allclose(sr.gaussian_blur(maps, 7, 1.3).numpy(),
                               ref.filter2d(maps.astype(np.float64), ref.gaussian_kernel(7, 1.3), "reflect"),
                               rtol=1e-5, atol=1e-7)
    # One sigma per row equals each row blurred alone.
    per_row = sr.gaussian_blur(maps, 7, np.array([0.7, 2.5], np.float32)).numpy()
    np.testing.assert_allclose(per_row[1], sr.gaussian_blur(maps[1:], 7, 2.5).numpy()[0], rtol=1e-6)
    # Maps smaller than the kernel (torch refuses them) fold the reflection again.
    small = sr.gaussian_blur(np.ones((1, 2, 3), np.float32), 7, 3.0).numpy()
    np.testing.assert_allclose(small, 1.0, rtol=1e-6)


@pytest.mark.parametrize("fused", [True, False], ids=["xla-slices", "convolutions"])
@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_banded_filters_of_large_maps_equal_the_matrices(mode, fused):
    # Maps larger than DENSE_MAX_SIDE are filtered by one XLA kernel of shifted
    # slices (fused kernels on) or convolutions (off) for one kernel, or shifted
    # reads (one kernel per row): the matrix products' values.
    kmix.config.set_fused_kernels(fused)
    try:
        _check_banded_filters(mode)
    finally:
        kmix.config.set_fused_kernels(True)


def _check_banded_filters(mode):
    maps = np.random.default_rng(1).random((2, sr.DENSE_MAX_SIDE + 6, sr.DENSE_MAX_SIDE + 2)).astype(np.float32)
    for weights in (sr.gaussian_weights(5, 1.5), sr.gaussian_weights(5, np.array([0.8, 2.0], np.float32))):
        rows = sr.filter_matrix(maps.shape[1], weights, mode).numpy()
        cols = sr.filter_matrix(maps.shape[2], weights, mode).numpy()
        if rows.ndim == 2:
            expected = np.einsum("hi,biw,vw->bhv", rows, maps, cols)
        else:
            expected = np.einsum("bhi,biw,bvw->bhv", rows, maps, cols)
        np.testing.assert_allclose(sr.apply_separable(maps, weights, mode).numpy(), expected, rtol=1e-5, atol=1e-7)


def test_the_banded_resize_equals_tf_image_resize():
    import tensorflow as tf

    maps = np.random.default_rng(2).random((2, 150, 131)).astype(np.float32)
    for size in ((128, 128), (160, 140)):
        expected = tf.image.resize(maps[..., None], size, method="bilinear", antialias=True)[..., 0].numpy()
        np.testing.assert_allclose(sr._resize(tf.constant(maps), size).numpy(), expected, rtol=1e-6, atol=1e-7)


def test_resized_maps_compile_under_xla():
    # Images over 128 px go through the resizes: static banded forms, which XLA
    # compiles (tf.image.resize's antialiased kernel has no XLA form).
    import tensorflow as tf

    images = np.random.default_rng(6).random((1, 136, 130, 3)).astype(np.float32)
    compiled = tf.function(sr.spectral_residual_saliency, jit_compile=True)(tf.constant(images)).numpy()
    np.testing.assert_allclose(compiled, sr.spectral_residual_saliency(images).numpy(), rtol=1e-4, atol=1e-9)


def test_the_fused_kernel_of_small_images_equals_the_official_maps():
    # Large batches of small images run as one XLA kernel.
    case = next(c for c in DATA["cases"] if c["name"] != "resized")
    images = official_images(case).transpose(0, 2, 3, 1)
    got = sr._gray_saliency_xla(images, False, 7, 3.0).numpy()
    stride = case["stride"] or 1
    np.testing.assert_allclose(got[:, ::stride, ::stride], vectors.array(case["saliency"]), rtol=2e-5, atol=1e-9)


@pytest.mark.parametrize("shape", [(3, 160, 150, 3), (2, 100, 300, 1), (2, 200, 70, 3)])
@pytest.mark.parametrize("blur_size", [7, 0])
def test_large_maps_give_the_same_saliency_with_and_without_the_fused_kernels(shape, blur_size):
    # Large maps: the spectral arithmetic and the modulus with the blur as XLA
    # kernels (fused on) or plain ops and convolutions (off).
    images = np.random.default_rng(5).random(shape).astype(np.float32)
    fused = sr.spectral_residual_saliency(images, blur_size=blur_size).numpy()
    kmix.config.set_fused_kernels(False)
    try:
        plain = sr.spectral_residual_saliency(images, blur_size=blur_size).numpy()
    finally:
        kmix.config.set_fused_kernels(True)
    np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())
