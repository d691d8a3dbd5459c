"""kmix.ops.masks: box masks and timm's CutMix boxes."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests import vectors


def test_box_from_center_matches_timm():
    for case in vectors.load("transmix")["timm_cutmix_box_given_center"]:
        box = kmix.ops.box_from_center(
            [case["lam_in"]], [case["cy"]], [case["cx"]], case["H"], case["W"]
        ).numpy()[0]
        assert box.tolist() == case["box_yl_yh_xl_xh"]
        mask = kmix.ops.box_mask(box[None], case["H"], case["W"])
        lam = kmix.ops.lam_from_mask(mask).numpy()[0]
        assert lam == pytest.approx(case["lam_corrected_share_of_a"], abs=1e-6)


def test_box_mask_zero_inside_half_open_box():
    mask = kmix.ops.box_mask(tf.constant([[1, 3, 2, 5]]), 4, 6).numpy()[0, ..., 0]
    expected = np.ones((4, 6), np.float32)
    expected[1:3, 2:5] = 0
    np.testing.assert_array_equal(mask, expected)
