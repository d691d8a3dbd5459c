"""kmix.ops.boxes: the checks of a bounding-box dict and MixUp's two sets of boxes."""

import numpy as np
import pytest
import tensorflow as tf

from kmix.ops import boxes as B


def _boxes():
    # Row i holds box i (and a -1 padding row), label 10 + i.
    coords = np.array([[[1, 1, 3, 3], [-1, -1, -1, -1]], [[0, 2, 4, 6], [-1, -1, -1, -1]],
                       [[2, 0, 6, 2], [-1, -1, -1, -1]]], np.float32)
    labels = np.array([[10, -1], [11, -1], [12, -1]], np.int32)
    return {"boxes": coords, "labels": labels}


def test_keep_both_boxes_puts_the_partner_boxes_after_the_own_ones():
    checked = B.check_bounding_boxes(_boxes(), 3)
    out = B.keep_both_boxes(checked, tf.constant([2, 0, 1]))
    np.testing.assert_array_equal(out["labels"].numpy(), [[10, -1, 12, -1], [11, -1, 10, -1], [12, -1, 11, -1]])
    np.testing.assert_array_equal(out["boxes"].numpy()[0, 2], [2, 0, 6, 2])


def test_ragged_boxes_stay_ragged():
    boxes = tf.ragged.constant([[[1.0, 1, 3, 3]], [[0.0, 2, 4, 6], [1.0, 1, 2, 2]]], ragged_rank=1)
    labels = tf.ragged.constant([[10], [11, 12]])
    out = B.keep_both_boxes(B.check_bounding_boxes({"boxes": boxes, "labels": labels}, 2), tf.constant([1, 0]))
    assert isinstance(out["boxes"], tf.RaggedTensor)
    assert out["labels"].to_list() == [[10, 11, 12], [11, 12, 10]]
    assert out["boxes"].row_lengths().numpy().tolist() == [3, 3]


def test_errors():
    with pytest.raises(ValueError, match=r"must be a dict with the keys 'boxes' \(B, N, 4\) and 'labels' \(B, N\).*Received: \['boxes'\]"):
        B.check_bounding_boxes({"boxes": np.zeros((2, 1, 4))}, 2, "MixUp")
    with pytest.raises(ValueError, match=r"both dense \(padded with -1\) or both ragged. Received: boxes ragged and labels dense"):
        B.check_bounding_boxes({"boxes": tf.ragged.constant([[[1.0, 1, 2, 2]]], ragged_rank=1),
                                "labels": np.zeros((1, 1))}, 1)
    with pytest.raises(ValueError, match=r"must be a batch: 'boxes' \(B, N, 4\) and 'labels' \(B, N\). Received: boxes.shape=\(1, 4\)"):
        B.check_bounding_boxes({"boxes": np.zeros((1, 4)), "labels": np.zeros((1, 1))}, 1)
    with pytest.raises(ValueError, match=r"one label per box. Received: boxes.shape=\(2, 3, 4\) and labels.shape=\(2, 2\)"):
        B.check_bounding_boxes({"boxes": np.zeros((2, 3, 4)), "labels": np.zeros((2, 2))}, 2)
    with pytest.raises(ValueError, match=r"one row per image. Received: 2 rows of boxes for 3 images"):
        B.check_bounding_boxes({"boxes": np.zeros((2, 1, 4)), "labels": np.zeros((2, 1))}, 3)
