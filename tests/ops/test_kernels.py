"""kmix.ops.kernels: the blend kernels are their formulas, fused (XLA) or in plain TensorFlow."""

import contextlib

import numpy as np
import pytest
import tensorflow as tf

import kmix.config
from kmix.ops import kernels
from kmix.ops.masks import box_mask

B, H, W, C = 4, 6, 5, 3
INDEX = np.array([2, 0, 3, 1], np.int32)
BOXES = np.array(
    [
        [0, H, 0, W],  # the whole image: the partner itself
        [1, 4, 2, 5],  # inside, touching the right border
        [3, 3, 0, W],  # empty: nothing pasted
        [H - 1, H, W - 1, W],  # one pixel in a corner
    ],
    np.int32,
)


@contextlib.contextmanager
def _fused(enabled):
    """Runs the block with the fused (XLA) kernels switched on or off, then restores the switch."""
    before = kmix.config.fused_kernels_enabled()
    kmix.config.set_fused_kernels(enabled)
    try:
        yield
    finally:
        kmix.config.set_fused_kernels(before)


def _images(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 256, (B, H, W, C)).astype(dtype)
    return rng.random((B, H, W, C)).astype(dtype)


def _soft_mask(seed=1):
    return np.random.default_rng(seed).random((B, H, W, 1)).astype(np.float32)


def _first(x):
    """(B, H, W, C) to channels first."""
    return np.transpose(x, (0, 3, 1, 2))


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
def test_blend_take_is_the_mask_formula_in_the_asked_dtype(fused):
    images, mask = _images(), _soft_mask()
    expected = mask * images + (1 - mask) * images[INDEX]
    with _fused(fused):
        out = kernels.blend_take(images, INDEX, mask, tf.float32)
        half = kernels.blend_take(images, INDEX, mask, tf.float16)
        first = kernels.blend_take(_first(images), INDEX, mask, tf.float32, channels_first=True)
    assert out.dtype == tf.float32 and half.dtype == tf.float16
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(half.numpy(), expected.astype(np.float16), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(first.numpy(), _first(expected), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
def test_binary_blend_take_selects_the_pixels_exactly(fused):
    images = _images(np.uint8)
    mask = (_soft_mask() > 0.5).astype(np.float32)
    with _fused(fused):
        out = kernels.blend_take(images, INDEX, mask, tf.float32, binary=True)
    expected = np.where(mask > 0.5, images, images[INDEX]).astype(np.float32)
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
@pytest.mark.parametrize("channels_first", [False, True], ids=["last", "first"])
def test_blend_take_boxes_is_blend_take_with_the_box_mask(fused, channels_first):
    images = _images()
    x = _first(images) if channels_first else images
    with _fused(fused):
        out = kernels.blend_take_boxes(x, INDEX, BOXES, tf.float32, channels_first)
        with_mask = kernels.blend_take(x, INDEX, box_mask(BOXES, H, W), tf.float32, channels_first, binary=True)
    np.testing.assert_array_equal(out.numpy(), with_mask.numpy())
    # The paste itself: the partner's pixels inside each half-open box, the row's own elsewhere.
    expected = images.copy()
    for i, (yl, yh, xl, xh) in enumerate(BOXES):
        expected[i, yl:yh, xl:xh] = images[INDEX[i], yl:yh, xl:xh]
    got = out.numpy()
    np.testing.assert_array_equal(np.transpose(got, (0, 2, 3, 1)) if channels_first else got, expected)
    np.testing.assert_array_equal(expected[0], images[INDEX[0]])
    np.testing.assert_array_equal(expected[2], images[2])


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
def test_blend_with_a_given_partner_broadcasts_a_blend_mask(fused):
    images = _images(np.uint8)
    partner = _images(np.uint8, seed=5)
    lam = np.array([0.0, 0.25, 0.5, 1.0], np.float32).reshape(B, 1, 1, 1)  # a MixUp-style mask
    with _fused(fused):
        out = kernels.blend(images, partner, lam, tf.float32)
    assert out.dtype == tf.float32
    expected = lam * images.astype(np.float32) + (1 - lam) * partner.astype(np.float32)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(out.numpy()[0], partner[0])
    np.testing.assert_array_equal(out.numpy()[3], images[3])


def test_fused_and_plain_kernels_give_the_same_values():
    images, mask = _images(), _soft_mask()
    partner = _images(seed=7)

    def run():
        return [
            kernels.blend_take(images, INDEX, mask, tf.float32).numpy(),
            kernels.blend_take_boxes(images, INDEX, BOXES, tf.float32).numpy(),
            kernels.blend(images, partner, mask, tf.float32).numpy(),
        ]

    with _fused(True):
        fused = run()
    with _fused(False):
        plain = run()
    assert kmix.config.fused_kernels_enabled()  # the switch is restored
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
