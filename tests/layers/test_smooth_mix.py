"""SmoothMix: mixed images equal OpenMixup's given its draws; labels follow the pixels."""

import numpy as np
import tensorflow as tf

import kmix
from kmix.ops.smooth_masks import gaussian_blob_mask
from tests.vectors import load

DATA = load("openmixup_grid_smooth")


def test_mixed_images_equal_openmixups_and_its_lam_is_the_partner_share():
    layer = kmix.layers.SmoothMix(seed=0)
    for case in DATA["smoothmix"]:
        images = np.transpose(np.array(case["images"], np.float32), (0, 2, 3, 1))
        size, batch = case["size"], len(case["index"])
        sigma = (np.float32(case["sigma_uniform"]) / 4 + 0.25) * size
        own = gaussian_blob_mask(
            [case["rand_h"]] * batch, [case["rand_w"]] * batch, [sigma] * batch, size, size)
        plan = kmix.MixPlan(tf.constant(case["index"], tf.int32), own, kmix.ops.lam_from_mask(own))
        mixed = layer.mix_images(images, plan).numpy()
        expected = np.transpose(np.array(case["mixed"], np.float32), (0, 2, 3, 1))
        np.testing.assert_allclose(mixed, expected, atol=1e-5)
        # Both forms of the label weight: kmix's own share (the paper's, what
        # the pixels say) is one minus OpenMixup's returned lam (its swap).
        np.testing.assert_allclose(plan.lam.numpy(), 1.0 - case["openmixup_lam"], atol=1e-5)


def test_drawn_blobs_are_soft_and_any_size_works():
    layer = kmix.layers.SmoothMix(lam_scope="sample", seed=2)
    plan = layer.sample_plan(np.zeros((16, 15, 21, 3), np.float32))
    mask = plan.mask.numpy()
    assert mask.shape == (16, 15, 21, 1)
    assert ((mask > 0) & (mask < 1)).mean() > 0.5  # a smooth edge, not a box
    assert mask.min() < 1e-3  # the partner's peak inside the image
    np.testing.assert_allclose(plan.lam.numpy(), mask.mean(axis=(1, 2, 3)), atol=1e-6)
