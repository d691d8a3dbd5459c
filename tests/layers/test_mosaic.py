"""Mosaic: pixels are the canvas window, labels the realised shares, boxes follow the pixels."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.ops import mosaic as M

B, H, W, N = 6, 24, 20, 3


def _canvas_window(images, order, centres):
    """NumPy: the H x W window of the 2H x 2W canvas of the four images, its centre at (cy, cx)."""
    out = np.empty_like(images)
    for b in range(images.shape[0]):
        four = images[order[b]]
        canvas = np.concatenate(
            [np.concatenate([four[0], four[1]], axis=1), np.concatenate([four[2], four[3]], axis=1)], axis=0
        )
        cy, cx = centres[b]
        out[b] = canvas[H - cy:2 * H - cy, W - cx:2 * W - cx]
    return out


def _painted(seed=0):
    rng = np.random.default_rng(seed)
    boxes = np.zeros((B, N, 4), np.float32)
    images = np.zeros((B, H, W, N + 1), np.float32)
    images[..., N] = np.arange(B)[:, None, None] + 1  # which row each pixel came from
    for i in range(B):
        for n in range(N):
            w, h = rng.integers(2, 15), rng.integers(2, 18)
            x1, y1 = rng.integers(0, W - w + 1), rng.integers(0, H - h + 1)
            boxes[i, n] = [x1, y1, x1 + w, y1 + h]
            images[i, y1:y1 + h, x1:x1 + w, n] = i + 1
    labels = (np.arange(B * N).reshape(B, N) % 4).astype(np.int32)
    boxes[1, 0], labels[1, 0] = -1, -1
    images[1, ..., 0] = 0
    return images, {"boxes": boxes, "labels": labels}


def test_images_are_the_canvas_window_and_labels_the_realised_shares():
    images, _ = _painted()
    layer = kmix.layers.Mosaic(num_classes=B, offset=(0.0, 1.0), seed=1)
    order, centres = kmix.layers.Mosaic(offset=(0.0, 1.0), seed=1).sample(B, H, W)
    order, centres = order.numpy(), centres.numpy()
    assert order[:, 0].tolist() == list(range(B))
    assert ((centres >= 0) & (centres <= [H, W])).all() and len(set(map(tuple, centres))) > 1
    out = layer({"images": images, "labels": np.arange(B)})
    np.testing.assert_array_equal(out["images"].numpy(), _canvas_window(images, order, centres))
    # Each row's label is the share of its pixels each source row covers.
    source = out["images"].numpy()[..., N].astype(int) - 1
    shares = np.stack([np.bincount(s.ravel(), minlength=B) for s in source]) / (H * W)
    np.testing.assert_allclose(out["labels"].numpy(), shares, atol=1e-6)
    np.testing.assert_allclose(
        M.mosaic_weights(tf.constant(centres), H, W).numpy().sum(1), 1.0, atol=1e-6
    )


def test_boxes_agree_with_the_pixels_quadrant_by_quadrant():
    images, boxes = _painted(1)
    layer = kmix.layers.Mosaic(offset=(0.2, 0.8), bounding_box_format="xyxy", min_visibility=0.2, seed=2)
    order, centres = kmix.layers.Mosaic(offset=(0.2, 0.8), seed=2).sample(B, H, W)
    order, centres = order.numpy(), centres.numpy()
    out = layer({"images": images, "bounding_boxes": boxes})
    mixed = out["images"].numpy()
    got_boxes, got_labels = out["bounding_boxes"]["boxes"].numpy(), out["bounding_boxes"]["labels"].numpy()
    assert got_boxes.shape == (B, 4 * N, 4)
    kept = dropped = 0
    for b in range(B):
        cy, cx = centres[b]
        quadrants = [(slice(0, cy), slice(0, cx)), (slice(0, cy), slice(cx, W)),
                     (slice(cy, H), slice(0, cx)), (slice(cy, H), slice(cx, W))]
        for q in range(4):
            src = order[b, q]
            in_quadrant = np.zeros((H, W), bool)
            in_quadrant[quadrants[q]] = True
            dx, dy = (cx - W if q in (0, 2) else cx), (cy - H if q in (0, 1) else cy)
            for n in range(N):
                slot = q * N + n
                if boxes["labels"][src, n] == -1:
                    assert got_labels[b, slot] == -1
                    continue
                shows = (mixed[b, ..., n] == src + 1) & in_quadrant
                x1, y1, x2, y2 = boxes["boxes"][src, n]
                area = (x2 - x1) * (y2 - y1)
                if got_labels[b, slot] == -1:
                    dropped += 1
                    np.testing.assert_array_equal(got_boxes[b, slot], -1)
                    assert shows.sum() < 0.2 * area
                    continue
                kept += 1
                assert got_labels[b, slot] == boxes["labels"][src, n]
                rows, cols = np.nonzero(shows)
                np.testing.assert_array_equal(
                    got_boxes[b, slot], [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
                )
                assert shows.sum() >= 0.2 * area
                # A box that shows whole is only moved.
                if shows.sum() == area:
                    np.testing.assert_array_equal(got_boxes[b, slot], [x1 + dx, y1 + dy, x2 + dx, y2 + dy])
    assert kept >= 10 and dropped >= 5, (kept, dropped)


def test_ragged_boxes_masks_and_channels_first_in_a_parallel_tf_data_map():
    images, boxes = _painted(2)
    lengths = [1, 3, 0, 2, 3, 1]
    ragged = {
        "boxes": tf.ragged.constant([boxes["boxes"][i, :k].tolist() for i, k in enumerate(lengths)], ragged_rank=1, dtype=tf.float32),
        "labels": tf.ragged.constant([boxes["labels"][i, :k].tolist() for i, k in enumerate(lengths)], dtype=tf.int32),
    }
    seg = (images[..., N] - 1).astype(np.int32)  # (B, H, W) class ids: the row
    data = {"images": np.transpose(images, [0, 3, 1, 2]), "labels": np.arange(B) % 4,
            "segmentation_masks": seg, "bounding_boxes": ragged, "id": np.arange(B)}
    layer = kmix.layers.Mosaic(num_classes=4, bounding_box_format="xyxy",
                               data_format="channels_first", seed=5)
    (out,) = list(tf.data.Dataset.from_tensors(data).map(layer, num_parallel_calls=4))
    assert isinstance(out["bounding_boxes"]["boxes"], tf.RaggedTensor)
    np.testing.assert_array_equal(out["id"].numpy(), np.arange(B))  # other keys pass through
    mixed = np.transpose(out["images"].numpy(), [0, 2, 3, 1])
    np.testing.assert_array_equal(out["segmentation_masks"].numpy(), mixed[..., N] - 1)
    assert out["labels"].shape == (B, 4)
    for row in range(B):
        assert (out["bounding_boxes"]["labels"][row].numpy() >= 0).all()


def test_arguments_errors_and_config():
    layer = kmix.layers.Mosaic(offset=[0.3, 0.6], num_classes=3, label_smoothing=0.1,
                               bounding_box_format="XYWH", min_visibility=0.5, seed=4)
    config = layer.get_config()
    clone = kmix.layers.Mosaic.from_config(config)
    for key in ("offset", "num_classes", "label_smoothing", "bounding_box_format", "min_visibility", "seed", "data_format"):
        assert getattr(clone, key) == getattr(layer, key), key
    assert config["offset"] == (0.3, 0.6) and config["bounding_box_format"] == "xywh"
    with pytest.raises(ValueError, match=r"`offset` must be a pair \(lo, hi\).*Received: offset=\(0.8, 0.2\)"):
        kmix.layers.Mosaic(offset=(0.8, 0.2))
    images = np.zeros((4, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match=r"^Mosaic mixes four images per row, so it needs .*Received: images alone$"):
        kmix.layers.Mosaic()(images)
    with pytest.raises(ValueError, match=r"^Mosaic mixes four images per row"):
        kmix.layers.Mosaic()({"images": images})
    with pytest.raises(ValueError, match=r"^Mosaic moves bounding boxes with their images, so it needs their format"):
        kmix.layers.Mosaic()({"images": images, "bounding_boxes": {"boxes": np.zeros((4, 1, 4)), "labels": np.zeros((4, 1))}})
    with pytest.raises(ValueError, match=r"needs `num_classes`|num_classes"):
        kmix.layers.Mosaic()((images, np.arange(4)))
    # Outside training: unchanged.
    same = kmix.layers.Mosaic(num_classes=4)((images, np.arange(4)), training=False)
    assert same[1].shape == (4,)
