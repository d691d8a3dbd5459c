"""kmix.ops.tokens: token masks read at each patch's top-left pixel (TransMix's convention)."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests import vectors


def test_token_mask_reads_top_left_pixel_of_each_patch():
    for case in vectors.load("transmix")["cases"]:
        inputs = case["inputs"]
        h, w = inputs["image_hw"]
        p = inputs["patch_size"]
        yl, yh, xl, xh = inputs["box_yl_yh_xl_xh"]
        mask = kmix.ops.box_mask(tf.constant([[yl, yh, xl, xh]]), h, w)
        tokens = kmix.ops.token_mask(mask, p).numpy()[0]
        # numpy statement of the official nearest downsampling: pixel (i*p, j*p).
        pixel = np.ones((h, w), np.float32)
        pixel[yl:yh, xl:xh] = 0
        np.testing.assert_array_equal(tokens, pixel[::p, ::p].reshape(-1))
    missing = kmix.ops.token_mask(kmix.ops.box_mask(tf.constant([[1, 15, 20, 30]]), 64, 64), 16)
    assert missing.numpy().min() == 1.0  # the box misses every sample point


def test_token_mask_errors():
    with pytest.raises(ValueError, match=r"multiples of `patch_size`.*patch_size=16"):
        kmix.ops.token_mask(tf.ones((1, 20, 20, 1)), 16)
    with pytest.raises(ValueError, match=r"`patch_size` must be an int >= 1. Received: patch_size=0"):
        kmix.ops.token_mask(tf.ones((1, 16, 16, 1)), 0)
