"""SnapMix as a layer: the official paste and label weights given its draws; precomputed CAMs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.ops.masks import box_mask
from tests.ops.test_class_activation import case_inputs
from tests.vectors import array
from tests.vectors import load

DATA = load("snapmix")


def official_plan(case):
    """The kmix plan of the official draws: its permutation and its two boxes."""
    _, _, _, _, boxes, source = case_inputs(case)
    if (boxes[0, 1] - boxes[0, 0]) * (boxes[0, 3] - boxes[0, 2]) == 0 or (
            source[0, 1] - source[0, 0]) * (source[0, 3] - source[0, 2]) == 0:
        boxes, source = np.zeros_like(boxes), np.zeros_like(source)
    mask = box_mask(boxes, case["height"], case["width"])
    return kmix.MixPlan(
        tf.constant(case["rand_index"], tf.int32), mask, kmix.ops.lam_from_mask(mask),
        boxes=tf.constant(boxes, tf.int32), source_boxes=tf.constant(source, tf.int32),
    )


def test_images_and_targets_equal_snapmix_given_its_draws():
    layer = kmix.layers.SnapMix(num_classes=3, partner="shuffle")
    for case in DATA["cases"]:
        images = case_inputs(case)[0]
        plan = official_plan(case)
        mixed = layer.mix_images(images, plan).numpy()
        expected = images.copy()
        region = np.transpose(array(case["mixed_box"], np.float32), (0, 2, 3, 1))
        if region.size:
            x1, y1, x2, y2 = case["box"]
            expected[:, x1:x2, y1:y2] = region
        np.testing.assert_allclose(mixed, expected, atol=1e-6)
        cams = array(case["cams"], np.float32)
        targets = layer.mixed_targets(cams, plan, np.array(case["labels"])).numpy()
        own = np.eye(3)[case["labels"]]
        partner = np.eye(3)[case["target_b"]]
        official = np.array(case["lam_a"])[:, None] * own + np.array(case["lam_b"])[:, None] * partner
        np.testing.assert_allclose(targets, official, atol=1e-6)
        # The plan's lam is the measured own-pixel share (the NaN fallback's lam).
        if region.size:
            x1, y1, x2, y2 = case["box"]
            area = (x2 - x1) * (y2 - y1) / (case["height"] * case["width"])
            np.testing.assert_allclose(plan.lam.numpy(), 1 - area, atol=1e-7)


def test_call_with_precomputed_cams_follows_its_plan():
    rng = np.random.default_rng(0)
    images = rng.random((6, 16, 16, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2])
    cams = rng.random((6, 16, 16)).astype(np.float32)
    cams /= cams.sum(axis=(1, 2), keepdims=True)
    plan = kmix.layers.SnapMix(num_classes=3, seed=4, lam_scope="sample").sample_plan(images)
    out = kmix.layers.SnapMix(num_classes=3, seed=4, lam_scope="sample")(
        {"images": images, "labels": labels, "cams": cams, "extra": 1})
    layer = kmix.layers.SnapMix(num_classes=3)
    np.testing.assert_allclose(out["images"].numpy(), layer.mix_images(images, plan).numpy())
    np.testing.assert_allclose(out["labels"].numpy(), layer.mixed_targets(cams, plan, labels).numpy(), atol=1e-6)
    assert out["extra"] == 1
    # Both boxes of a row are non-empty, or both are zero (nothing pasted).
    boxes = np.stack([plan.boxes.numpy(), plan.source_boxes.numpy()], axis=1)
    areas = (boxes[..., 1] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 2])
    assert ((areas[:, 0] > 0) == (areas[:, 1] > 0)).all() and (areas[:, 0] > 0).any()
    np.testing.assert_array_equal(plan.mask.numpy(), box_mask(boxes[:, 0], 16, 16).numpy())
    # Uniform maps: the weights are the two boxes' area shares.
    uniform = np.full((6, 16, 16), 1 / 256, np.float32)
    lam_a, lam_b = layer.label_weights(uniform, plan, np.eye(6, dtype=np.float32))
    np.testing.assert_allclose(lam_a.numpy(), plan.lam.numpy(), atol=1e-6)
    np.testing.assert_allclose(lam_b.numpy(), areas[:, 1] / 256, atol=1e-6)


def test_probability_zero_and_a_batch_of_one_leave_the_images():
    images = np.random.default_rng(1).random((4, 8, 8, 3)).astype(np.float32)
    cams = np.full((4, 8, 8), 1 / 64, np.float32)
    out = kmix.layers.SnapMix(probability=0.0, num_classes=4, seed=0)(
        {"images": images, "labels": np.arange(4), "cams": cams})
    np.testing.assert_allclose(out["images"].numpy(), images)
    np.testing.assert_allclose(out["labels"].numpy(), np.eye(4))
    one = kmix.layers.SnapMix(num_classes=4, seed=0)(
        {"images": images[:1], "labels": np.arange(1), "cams": cams[:1]})
    np.testing.assert_allclose(one["images"].numpy(), images[:1])


def test_config_round_trip():
    layer = kmix.layers.SnapMix(alpha=2.0, probability=0.5, feature_layer="f",
                                classifier_layer="c", num_classes=5, seed=3)
    config = layer.get_config()
    assert config["alpha"] == 2.0 and config["probability"] == 0.5
    assert (config["feature_layer"], config["classifier_layer"]) == ("f", "c")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert again.get_config() == config
    assert kmix.layers.SnapMix().alpha == 5.0


def test_errors():
    images = np.zeros((4, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match=r"MixingModel\(inputs, outputs, mixer=kmix.layers.SnapMix"):
        kmix.layers.SnapMix(num_classes=3)(images, np.arange(4) % 3)
    with pytest.raises(ValueError, match=r"Received: a dict without cams"):
        kmix.layers.SnapMix(num_classes=3)({"images": images, "labels": np.arange(4) % 3})
    with pytest.raises(ValueError, match=r"cams must be \(B, H, W\) = \(B, 8, 8\).*Received: cams.shape=\(4, 4, 4\)"):
        kmix.layers.SnapMix(num_classes=3)(
            {"images": images, "labels": np.arange(4) % 3, "cams": np.zeros((4, 4, 4), np.float32)})
    with pytest.raises(ValueError, match=r"label_mode='classification'. Received: label_mode='regression'"):
        kmix.layers.SnapMix(label_mode="regression")
    with pytest.raises(ValueError, match=r"`probability` must be .*Received: probability=1.5"):
        kmix.layers.SnapMix(probability=1.5)
    with pytest.raises(TypeError, match=r"`feature_layer` must be the name of a layer"):
        kmix.layers.SnapMix(feature_layer=3)
    with pytest.raises(ValueError, match=r"partner's region in `source_boxes`, each int32 \(B, 4\).*Received: boxes=None"):
        kmix.layers.SnapMix().mix_images(images, kmix.MixPlan(tf.range(4), tf.ones([4, 8, 8, 1]), tf.ones([4])))
