"""GridMix: mixed images equal OpenMixup's given its draws; labels by the measured share."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.ops.grid_holes import grid_hole_mask
from tests.vectors import load

DATA = load("openmixup_grid_smooth")


def test_mixed_images_and_lam_equal_openmixups_given_its_draws():
    layer = kmix.layers.GridMix(seed=0)
    for case in DATA["gridmix"][1:]:  # the first case's cut overflows upstream (see test_grid_holes)
        images = np.transpose(np.array(case["images"], np.float32), (0, 2, 3, 1))  # NCHW -> NHWC
        size = case["size"]
        own = grid_hole_mask(
            [case["lam_drawn"]] * 4, [case["n_holes"]] * 4, [case["hole_aspect_ratio"]] * 4,
            [case["cut_area_ratio"]] * 4, [case["cut_aspect_ratio"]] * 4, [case["cx"]] * 4,
            [case["cy"]] * 4, size, size)
        lam = tf.reduce_mean(own, axis=[1, 2, 3])
        plan = kmix.MixPlan(tf.constant(case["index"], tf.int32), own, lam)
        mixed = layer.mix_images(images, plan).numpy()
        expected = np.transpose(np.array(case["mixed"], np.float32), (0, 2, 3, 1))
        np.testing.assert_allclose(mixed, expected, atol=1e-6)
        np.testing.assert_allclose(lam.numpy(), case["lam"], atol=1e-6)


def test_ranges_are_drawn_within_their_bounds_and_labels_follow_the_pixels():
    layer = kmix.layers.GridMix(n_holes=(2, 4), cut_area_ratio=(0.5, 1.0), lam_scope="sample", seed=1)
    plan = layer.sample_plan(np.zeros((32, 32, 32, 3), np.float32))
    mask = plan.mask.numpy()
    assert set(np.unique(mask)) <= {0.0, 1.0}
    np.testing.assert_allclose(plan.lam.numpy(), mask.mean(axis=(1, 2, 3)), atol=1e-7)
    assert (plan.lam.numpy() < 1).all()  # every row has holes


def test_argument_errors():
    with pytest.raises(TypeError, match=r"`n_holes` must be a int or a pair \(lo, hi\) of ints"):
        kmix.layers.GridMix(n_holes=2.5)
    with pytest.raises(ValueError, match=r"`cut_area_ratio` must be in \(0, 1\]"):
        kmix.layers.GridMix(cut_area_ratio=(0.5, 1.5))
    with pytest.raises(ValueError, match=r"`hole_aspect_ratio` must be > 0.0 with lo <= hi"):
        kmix.layers.GridMix(hole_aspect_ratio=(2.0, 1.0))


def test_random_mix_choice_draws_gridmix_and_smoothmix():
    layer = kmix.layers.RandomMixChoice([kmix.layers.GridMix(), kmix.layers.SmoothMix()],
                                        choice_scope="sample", num_classes=3, seed=0)
    plan = layer.sample_plan(np.zeros((32, 16, 16, 3), np.float32))
    choice, mask = plan.choice.numpy(), plan.mask.numpy().reshape(32, -1)
    assert set(choice) == {0, 1}
    assert np.isin(mask[choice == 0], (0.0, 1.0)).all()  # GridMix rows: holes
    assert not np.isin(mask[choice == 1], (0.0, 1.0)).all()  # SmoothMix rows: soft
