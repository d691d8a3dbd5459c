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


def _visible_part_numpy(xyxy, visible):
    """Pixel by pixel: the box's pixels are those whose centres lie inside it (else the centre's pixel)."""
    batch, count = xyxy.shape[:2]
    height, width = visible.shape[1:]
    fraction = np.zeros((batch, count), np.float32)
    clipped = xyxy.copy()
    for b in range(batch):
        for n in range(count):
            x1, y1, x2, y2 = xyxy[b, n]
            cols = [c for c in range(-50, width + 50) if x1 <= c + 0.5 <= x2] or [int(np.floor((x1 + x2) / 2))]
            rows = [r for r in range(-50, height + 50) if y1 <= r + 0.5 <= y2] or [int(np.floor((y1 + y2) / 2))]
            area = len(cols) * len(rows)  # pixels outside the image count, as hidden
            cols = [c for c in cols if 0 <= c < width]
            rows = [r for r in rows if 0 <= r < height]
            sub = visible[b][np.ix_(rows, cols)] if rows and cols else np.zeros((0, 0), bool)
            fraction[b, n] = sub.sum() / area
            if sub.any():
                rr, cc = np.nonzero(sub)
                clipped[b, n] = [max(x1, cols[cc.min()]), max(y1, rows[rr.min()]),
                                 min(x2, cols[cc.max()] + 1), min(y2, rows[rr.max()] + 1)]
    return fraction, clipped


def test_visible_part_matches_a_pixel_by_pixel_count():
    rng = np.random.default_rng(0)
    batch, count, height, width = 3, 8, 17, 23
    visible = rng.random((batch, height, width)) < 0.6
    x = np.sort(rng.uniform(-3, width + 3, (batch, count, 2)), -1)
    y = np.sort(rng.uniform(-3, height + 3, (batch, count, 2)), -1)
    xyxy = np.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], -1).astype(np.float32)
    xyxy[0, 0] = [2, 3, 9, 11]  # whole pixels
    xyxy[0, 1] = [4.2, 5.1, 4.6, 5.3]  # smaller than a pixel
    fraction, clipped = B.visible_part(tf.constant(xyxy), tf.constant(visible))
    want_fraction, want_clipped = _visible_part_numpy(xyxy, visible)
    np.testing.assert_allclose(fraction.numpy(), want_fraction, atol=1e-6)
    np.testing.assert_allclose(clipped.numpy(), want_clipped, atol=1e-5)
