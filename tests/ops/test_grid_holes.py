"""GridMix's hole masks equal OpenMixup's `rand_grid` given its draws."""

import numpy as np
import tensorflow as tf

import kmix.ops.grid_holes as grid_holes
from tests.vectors import load

DATA = load("openmixup_grid_smooth")


def _mask(case, size=None):
    size = size or case["size"]
    return grid_holes.grid_hole_mask(
        [case["lam_drawn"]], [case["n_holes"]], [case["hole_aspect_ratio"]], [case["cut_area_ratio"]],
        [case["cut_aspect_ratio"]], [case["cx"]], [case["cy"]], size, size,
    ).numpy()[0, ..., 0]


def test_masks_equal_openmixups_given_its_draws():
    compared = 0
    for case in DATA["gridmix"]:
        size = case["size"]
        cut_w = int(np.sqrt(int(size * size * case["cut_area_ratio"]) / case["cut_aspect_ratio"]))
        if int(cut_w * case["cut_aspect_ratio"]) > size:
            # OpenMixup's cut overflows the image there and its negative slice
            # indices wrap around; kmix clips the cut to the image instead.
            own = _mask(case)
            assert own.min() == 0.0 and own.max() == 1.0
            continue
        np.testing.assert_array_equal(_mask(case), 1.0 - np.array(case["partner_mask"]))
        compared += 1
    assert compared == 3


def test_vectorised_over_rows_and_compiles_under_xla():
    fn = tf.function(grid_holes.grid_hole_mask, jit_compile=True)
    masks = fn(tf.constant([0.2, 0.8]), tf.constant([2, 4]), tf.constant([1.0, 0.5]),
               tf.constant([1.0, 0.6]), tf.constant([1.0, 1.5]), tf.constant([0.0, 0.5]),
               tf.constant([0.3, 0.9]), 16, 24)
    assert masks.shape == (2, 16, 24, 1)
    assert set(np.unique(masks.numpy())) <= {0.0, 1.0}
