"""SmoothMix's Gaussian masks equal OpenMixup's `gaussian_kernel` given its draws."""

import numpy as np
import tensorflow as tf

import kmix.ops.smooth_masks as smooth_masks
from tests.vectors import load

DATA = load("openmixup_grid_smooth")


def test_masks_equal_openmixups_given_its_draws():
    for case in DATA["smoothmix"]:
        size = case["size"]
        sigma = (np.float32(case["sigma_uniform"]) / 4 + 0.25) * size
        own = smooth_masks.gaussian_blob_mask([case["rand_h"]], [case["rand_w"]], [sigma], size, size)
        np.testing.assert_allclose(1.0 - own.numpy()[0, ..., 0], np.array(case["partner_mask"]), atol=1e-6)


def test_rectangular_images_and_xla():
    fn = tf.function(smooth_masks.gaussian_blob_mask, jit_compile=True)
    own = fn(tf.constant([0.0]), tf.constant([0.0]), tf.constant([3.0]), 9, 15).numpy()[0, ..., 0]
    assert own.shape == (9, 15)
    assert own[4, 7] == 0.0 and own.min() == 0.0  # the partner's peak at the centre
    np.testing.assert_allclose(own, own[::-1, ::-1], atol=1e-6)
