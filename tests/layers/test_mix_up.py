"""MixUp: the blend and the labels follow the plan's lam; lam scopes; alpha."""

import numpy as np
import pytest
import tensorflow as tf

import kmix

L = kmix.layers


def test_images_and_labels_are_the_lam_blend_of_the_plan():
    rng = np.random.default_rng(0)
    images = rng.random((6, 8, 10, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 0, 1])
    kwargs = dict(alpha=1.0, lam_scope="sample", num_classes=4, seed=3)
    # A fresh layer with the same seed draws the plan that the call uses.
    plan = L.MixUp(**kwargs).sample_plan(images)
    x, y = L.MixUp(**kwargs)(images, labels)
    lam, index = plan.lam.numpy(), plan.index.numpy()
    assert plan.mask.shape == (6, 1, 1, 1) and plan.boxes is None
    np.testing.assert_array_equal(plan.mask.numpy().reshape(-1), lam)
    assert np.all(index != np.arange(6)) and 0 < lam.min() and lam.max() < 1
    w = lam[:, None, None, None]
    np.testing.assert_allclose(x.numpy(), w * images + (1 - w) * images[index], rtol=1e-6, atol=1e-6)
    onehot = np.eye(4, dtype=np.float32)[labels]
    np.testing.assert_allclose(y.numpy(), lam[:, None] * onehot + (1 - lam[:, None]) * onehot[index], atol=1e-6)


@pytest.mark.parametrize("lam_scope", ["batch", "sample"])
def test_batch_scope_draws_one_lam_and_sample_scope_one_per_row(lam_scope):
    layer = L.MixUp(alpha=1.0, lam_scope=lam_scope, seed=0)
    images = np.zeros((16, 4, 4, 1), np.float32)
    draws = []
    for _ in range(3):
        lam = layer.sample_plan(images).lam.numpy()
        assert lam.shape == (16,)
        if lam_scope == "batch":
            assert np.all(lam == lam[0])
        else:
            assert len(np.unique(lam)) == 16
        draws.append(lam[0])
    assert len(set(draws)) == 3  # a fresh lam every batch


def test_alpha_is_the_beta_concentration():
    assert L.MixUp().alpha == 0.2  # Keras and KerasCV's default
    images = np.zeros((2000, 1, 1, 1), np.float32)
    for alpha in (0.2, 4.0):
        lam = L.MixUp(alpha=alpha, lam_scope="sample", seed=0).sample_plan(images).lam.numpy()
        # Beta(a, a): mean 1/2 and variance 1 / (4 (2a + 1)).
        assert abs(lam.mean() - 0.5) < 0.05
        assert abs(lam.var() - 1 / (4 * (2 * alpha + 1))) < 0.015, (alpha, lam.var())


def _painted_batch(batch=6, size=16):
    """Zero images, each with one box painted 1.0 (row i: a box of its own), labels 10 + i."""
    rng = np.random.default_rng(4)
    images = np.zeros((batch, size, size, 3), np.float32)
    boxes = np.full((batch, 2, 4), -1.0, np.float32)  # yxyx pixels, one -1 padding row
    for i in range(batch):
        y0, x0 = rng.integers(0, size - 5, 2)
        y1, x1 = y0 + rng.integers(2, 5), x0 + rng.integers(2, 5)
        images[i, y0:y1, x0:x1] = 1.0
        boxes[i, 0] = [y0, x0, y1, x1]
    labels = np.stack([10 + np.arange(batch), -np.ones(batch)], axis=1).astype(np.int32)
    return images, {"boxes": boxes, "labels": labels}


def test_mixup_keeps_both_images_boxes_where_the_pixels_show_them():
    images, boxes = _painted_batch()
    layer = kmix.layers.MixUp(alpha=1.0, num_classes=3, seed=2)
    out = layer({"images": images, "labels": np.arange(6) % 3, "bounding_boxes": boxes})
    mixed, got = out["images"].numpy(), out["bounding_boxes"]
    assert got["boxes"].shape == (6, 4, 4) and got["labels"].shape == (6, 4)
    for row in range(6):
        painted = np.zeros(mixed.shape[1:3], bool)
        for box, label in zip(got["boxes"].numpy()[row], got["labels"].numpy()[row]):
            if label < 0:
                np.testing.assert_array_equal(box, -1)  # padding stays padding
                continue
            y0, x0, y1, x1 = box.astype(int)
            painted[y0:y1, x0:x1] = True
            # The box's own image is the one painted there: label 10 + i is image i's box.
            np.testing.assert_array_equal(box, boxes["boxes"][label - 10, 0])
        # Every box shows in the mixed image, and nothing shows outside them.
        np.testing.assert_array_equal(mixed[row, ..., 0] > 0, painted)
        assert got["labels"].numpy()[row, 0] == 10 + row  # own boxes first


def test_mixup_boxes_follow_the_plan_in_a_tf_data_map():
    images, boxes = _painted_batch()
    layer = kmix.layers.MixUp(num_classes=3, seed=1)
    plan = layer.sample_plan(tf.constant(images), seed=tf.constant([3, 4]))
    got = layer.mix_bounding_boxes(kmix.ops.boxes.check_bounding_boxes(boxes, 6), plan)
    partner = plan.index.numpy()
    np.testing.assert_array_equal(got["labels"].numpy()[:, 2], 10 + partner)
    ds = tf.data.Dataset.from_tensor_slices(
        {"images": images, "labels": np.arange(6) % 3, "bounding_boxes": boxes}
    ).batch(3).map(layer, num_parallel_calls=2)
    for batch in ds:
        assert batch["bounding_boxes"]["boxes"].shape == (3, 4, 4)
    with pytest.raises(ValueError, match=r"`bounding_boxes` are not supported by GridMix\. MixUp, CutMix, FMix, ResizeMix, MaskMix and Mosaic mix"):
        kmix.layers.GridMix(num_classes=3)({"images": images, "labels": np.arange(6) % 3, "bounding_boxes": boxes})
