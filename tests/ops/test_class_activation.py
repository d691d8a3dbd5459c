"""SnapMix's ops equal the official get_spm / snapmix given its draws (tests/data/vectors/snapmix.json)."""

import importlib.util

import numpy as np
import tensorflow as tf

from kmix.ops.class_activation import box_activation_weights
from kmix.ops.class_activation import class_activation_maps
from kmix.ops.class_activation import paste_boxes
from tests.vectors import VECTORS
from tests.vectors import array
from tests.vectors import load

DATA = load("snapmix")


def _numpy_ref():
    spec = importlib.util.spec_from_file_location("snapmix_numpy_ref", VECTORS / "snapmix_numpy_ref.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case_inputs(case):
    """NHWC images, the tiny model's features (NHWC), Dense kernel (C, K), bias, boxes."""
    images = np.transpose(array(case["images"], np.float32), (0, 2, 3, 1))
    kernel = np.transpose(array(case["conv_kernel"], np.float32), (2, 3, 1, 0))
    features = tf.nn.conv2d(images, kernel, 4, "VALID") + array(case["conv_bias"], np.float32)
    dense_kernel = array(case["dense_kernel"], np.float32).T
    x1, y1, x2, y2 = case["box"]  # official: x along the rows, y along the columns
    u1, v1, u2, v2 = case["box1"]
    batch = len(case["labels"])
    boxes = np.array([[x1, x2, y1, y2]] * batch, np.int32)
    source = np.array([[u1, u2, v1, v2]] * batch, np.int32)
    return images, features, dense_kernel, array(case["dense_bias"], np.float32), boxes, source


def test_the_numpy_reference_reproduces_the_official_vectors():
    assert _numpy_ref().main()


def test_cams_equal_get_spm():
    for case in DATA["cases"]:
        _, features, kernel, bias, _, _ = case_inputs(case)
        cams = class_activation_maps(features, kernel, bias, case["labels"], case["height"], case["width"])
        expected = array(case["cams"], np.float32)
        # A constant map is NaN in both (zero sum after subtracting the minimum).
        np.testing.assert_array_equal(np.isnan(cams.numpy()), np.isnan(expected))
        np.testing.assert_allclose(cams.numpy(), expected, atol=1e-7, equal_nan=True)
    assert np.isnan(array(DATA["cases"][1]["cams"])).any()


def test_the_paste_equals_snapmix_given_its_boxes_square_and_not():
    pasted = 0
    for case in DATA["cases"]:
        images, _, _, _, boxes, source = case_inputs(case)
        expected = np.transpose(array(case["mixed_box"], np.float32), (0, 2, 3, 1))
        if not expected.size:
            continue
        out = paste_boxes(images, case["rand_index"], boxes, source).numpy()
        yl, yh, xl, xh = boxes[0]
        np.testing.assert_allclose(out[:, yl:yh, xl:xh], expected, atol=1e-6)
        pasted += 1
    assert pasted == 3


def test_label_weights_equal_snapmix_with_same_labels_nan_and_empty_boxes():
    for case in DATA["cases"]:
        _, _, _, _, boxes, source = case_inputs(case)
        labels = np.array(case["labels"])
        index = np.array(case["rand_index"])
        lam_a, lam_b = box_activation_weights(
            array(case["cams"], np.float32), index, boxes, source, labels == labels[index])
        np.testing.assert_allclose(lam_a.numpy(), case["lam_a"], atol=1e-6)
        np.testing.assert_allclose(lam_b.numpy(), case["lam_b"], atol=1e-6)
    # Weights need not sum to 1: the official's same-label rows add both.
    square = DATA["cases"][0]
    assert square["lam_a"][5] == square["lam_b"][5] and square["lam_a"][5] > 1
    assert DATA["cases"][3]["lam_a"] == [1.0] * 5  # an empty box: nothing pasted


def test_per_row_boxes():
    # (XLA: compiled once, with the whole step, in tests/models/test_snap_mix_step.py.)
    case = DATA["cases"][2]
    images, features, kernel, bias, boxes, source = case_inputs(case)
    # Per-row boxes: each row equals a one-row call with its own boxes.
    rows_boxes = np.array([[0, 5, 2, 9], [3, 12, 0, 16], [1, 2, 4, 5], [6, 12, 8, 15], [0, 0, 0, 0]], np.int32)
    rows_source = np.array([[2, 4, 0, 16], [0, 12, 0, 16], [5, 7, 3, 4], [0, 1, 0, 1], [0, 0, 0, 0]], np.int32)
    index = np.array(case["rand_index"])

    def run(images, features):
        cams = class_activation_maps(features, kernel, bias, case["labels"], 12, 16)
        out = paste_boxes(images, index, rows_boxes, rows_source)
        lam_a, lam_b = box_activation_weights(cams, index, rows_boxes, rows_source, tf.zeros([5], tf.bool))
        return cams, out, lam_a, lam_b

    cams, out, lam_a, lam_b = [t.numpy() for t in run(images, features)]
    np.testing.assert_allclose(cams, array(case["cams"]), atol=1e-6)
    ref = _numpy_ref()
    nchw = np.transpose(images, (0, 3, 1, 2)).astype(np.float64)
    for row in range(4):
        yl, yh, xl, xh = rows_boxes[row]
        sl, sh, tl, th = rows_source[row]
        expected = ref.resize_align_corners(nchw[index[row]][None, :, sl:sh, tl:th], yh - yl, xh - xl)[0]
        np.testing.assert_allclose(out[row, yl:yh, xl:xh], np.transpose(expected, (1, 2, 0)), atol=1e-6)
        inside = cams[row, yl:yh, xl:xh].sum() / (cams[row].sum() + 1e-8)
        np.testing.assert_allclose(lam_a[row], 1 - inside, atol=1e-6)
    assert (lam_a[4], lam_b[4]) == (1.0, 0.0)
