"""AttentiveMix: the same mixed pairs as OpenMixup's attentivemix, seen from the partner."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.ops.attentive_cells import top_k_cell_mask
from tests.vectors import load

DATA = load("attentivemix")


def test_the_mixed_pairs_equal_openmixups_given_its_permutation():
    # OpenMixup's row i keeps its own top-k cells and takes the rest from
    # img[perm[i]]; kmix pastes the partner's top-k cells: with own row
    # perm[i] and partner i, kmix's row is OpenMixup's row i.
    layer = kmix.layers.AttentiveMix(top_k=1, seed=0)
    for case in DATA["cases"]:
        images = np.transpose(np.array(case["images"], np.float32), (0, 2, 3, 1))
        features = np.transpose(np.array(case["features"], np.float32), (0, 2, 3, 1))
        perm = np.array(case["index"])
        size = images.shape[1]
        layer.top_k = case["top_k"]
        inverse = np.argsort(perm)
        cells = top_k_cell_mask(features[inverse], case["top_k"], size, size)
        own = 1.0 - cells
        plan = kmix.MixPlan(tf.constant(inverse, tf.int32), own, kmix.ops.lam_from_mask(own))
        mixed = layer.mix_images(images, plan).numpy()
        expected = np.transpose(np.array(case["mixed"], np.float32), (0, 2, 3, 1))
        np.testing.assert_allclose(mixed[perm], expected, atol=1e-6)
        # Label weights: OpenMixup's own share is kmix's partner share.
        np.testing.assert_allclose(1.0 - plan.lam.numpy(), case["lam"], atol=1e-6)


def test_a_plan_from_the_teachers_features_and_from_given_features():
    teacher = keras.Sequential([keras.layers.AveragePooling2D(8)])
    layer = kmix.layers.AttentiveMix(teacher=teacher, top_k=4, num_classes=5, seed=0)
    images = np.random.default_rng(0).random((6, 32, 32, 3)).astype(np.float32)
    plan = layer.sample_plan(images, seed=3)
    np.testing.assert_allclose(plan.lam.numpy(), 1 - 4 / 16, atol=1e-6)
    features = teacher(images).numpy()
    cells = top_k_cell_mask(features[plan.index.numpy()], 4, 32, 32)
    np.testing.assert_array_equal(plan.mask.numpy(), 1.0 - cells.numpy())
    # Precomputed features in the input dict, without a teacher.
    out = kmix.layers.AttentiveMix(top_k=4, num_classes=5, seed=0)(
        {"images": images, "labels": np.arange(6) % 5, "features": features})
    assert out["images"].shape == images.shape


def test_errors():
    with pytest.raises(ValueError, match=r"needs feature maps: give it a `teacher`"):
        kmix.layers.AttentiveMix(num_classes=3)(np.zeros((4, 8, 8, 3), np.float32), np.arange(4) % 3)
    with pytest.raises(ValueError, match=r"at least top_k=6 cells. Received: features.shape=\(4, 2, 2, 3\)"):
        kmix.layers.AttentiveMix(num_classes=3)(
            {"images": np.zeros((4, 8, 8, 3), np.float32), "labels": np.arange(4) % 3,
             "features": np.zeros((4, 2, 2, 3), np.float32)})
    with pytest.raises(TypeError, match=r"`teacher` must be a Keras model"):
        kmix.layers.AttentiveMix(teacher="resnet")
