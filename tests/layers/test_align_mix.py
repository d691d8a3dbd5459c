"""AlignMix: a MixUp plan, the per-batch branch draws, and the aligned mix of feature maps."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests.vectors import array
from tests.vectors import load

DATA = load("alignmix")
K = 4


def _chi2(counts, probabilities):
    counts = np.asarray(counts, np.float64)
    expected = counts.sum() * np.asarray(probabilities)
    return float(((counts - expected) ** 2 / expected).sum())


def test_defaults_config_and_the_plan_is_a_mixup_plan_with_one_lam_per_batch():
    layer = kmix.layers.AlignMix(num_classes=K, seed=3)
    assert (layer.alpha, layer.input_mixup_probability, layer.eps, layer.max_iter) == (2.0, 0.5, 0.1, 100)
    config = layer.get_config()
    clone = kmix.layers.AlignMix.from_config(config)
    assert clone.get_config() == config
    custom = kmix.layers.AlignMix(alpha=1.0, input_mixup_probability=0.0, eps=0.05, max_iter=20,
                                  partner="shuffle", data_format="channels_first")
    assert {k: custom.get_config()[k] for k in ("input_mixup_probability", "eps", "max_iter", "partner")} == {
        "input_mixup_probability": 0.0, "eps": 0.05, "max_iter": 20, "partner": "shuffle"}
    numpy_numbers = kmix.layers.AlignMix(input_mixup_probability=np.float32(0.25), eps=np.float64(0.05),
                                         max_iter=np.int64(20)).get_config()
    assert type(numpy_numbers["eps"]) is float and type(numpy_numbers["max_iter"]) is int
    json.dumps(numpy_numbers)
    images = tf.random.stateless_uniform([6, 4, 4, 3], [1, 2])
    plan = layer.sample_plan(images, seed=tf.constant([5, 6]))
    lam = plan.lam.numpy()
    assert plan.mask.shape == (6, 1, 1, 1)
    np.testing.assert_array_equal(plan.mask.numpy().ravel(), lam)
    assert np.all(lam == lam[0]) and 0 < lam[0] < 1
    assert sorted(plan.index.numpy()) == list(range(6)) and np.all(plan.index.numpy() != np.arange(6))
    choice = plan.choice.numpy()
    assert np.all(choice == choice[0]) and choice[0] in (0, 1, 2)
    again = clone.sample_plan(images, seed=tf.constant([5, 6]))
    for field in ("lam", "index", "choice"):
        np.testing.assert_array_equal(getattr(again, field).numpy(), getattr(plan, field).numpy())
    one = layer.sample_plan(images[:1], seed=tf.constant([5, 6]))
    assert int(one.choice[0]) == 0 and float(one.lam[0]) == 1.0  # a batch of one is left as it is
    # The images are MixUp-blended with that plan on the input branch (choice
    # 0) and left as they are on the aligned branches.
    blended = lam[:, None, None, None] * images.numpy() + (1 - lam[:, None, None, None]) * images.numpy()[plan.index.numpy()]
    for branch in (0, 1, 2):
        mixed = layer.mix_images(images, plan._replace(choice=tf.fill([6], branch))).numpy()
        np.testing.assert_allclose(mixed, blended if branch == 0 else images.numpy(), rtol=1e-6, atol=1e-6)


def test_the_branch_law_is_the_official_one():
    # The official forward: input mixup or the aligned mix with probability
    # 1/2 each, then either direction with 1/2 (counted on the official code;
    # chi-square below the 0.999 quantile for 2 dof, 13.82).
    law = DATA["forward_law"]
    assert _chi2([law["input_mixup"], law["direction0"], law["direction1"]], [0.5, 0.25, 0.25]) < 13.82
    # kmix's draws follow the same law (fixed seeds: deterministic).
    layer = kmix.layers.AlignMix()
    counts = np.bincount([int(layer.sample_branch(tf.constant([7, k]))) for k in range(600)], minlength=3)
    assert _chi2(counts, [0.5, 0.25, 0.25]) < 13.82, counts
    always = kmix.layers.AlignMix(input_mixup_probability=0.0)
    never = kmix.layers.AlignMix(input_mixup_probability=1.0)
    for k in range(10):
        assert int(always.sample_branch(tf.constant([1, k]))) in (1, 2)
        assert int(never.sample_branch(tf.constant([1, k]))) == 0


def test_mix_features_equals_the_official_mixup_aligned_given_its_draws():
    case = next(c for c in DATA["cases"] if c["name"] == "hw16_all_iterations")  # a self-pair too
    features = array(case["features"], np.float32)
    batch = features.shape[0]
    lam = tf.fill([batch], tf.constant(case["lam"], tf.float32))
    plan = kmix.MixPlan(tf.constant(case["permutation"], tf.int32), tf.reshape(lam, [-1, 1, 1, 1]), lam)
    official = kmix.layers.AlignMix(data_format="channels_first")
    keras_layout = kmix.layers.AlignMix()
    mix = tf.function(
        lambda f, branch, layer: layer.mix_features(f, plan._replace(choice=tf.fill([batch], branch))),
        autograph=False,
    )
    for direction in (0, 1):
        expected = array(case[f"mixed_direction{direction}"])
        branch = tf.constant(1 + direction)  # the plan's choice: 1 + the official align_mix
        got = mix(tf.constant(features), branch, official).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-4)
        got = mix(tf.constant(features.transpose(0, 2, 3, 1)), branch, keras_layout)
        np.testing.assert_allclose(got.numpy().transpose(0, 3, 1, 2), expected, atol=1e-4)
    # The labels of both branches: lam * y + (1 - lam) * y[permutation].
    labels = np.arange(batch) % K
    targets = kmix.ops.mix_labels(labels, plan, num_classes=K).numpy()
    expected = case["lam"] * np.eye(K)[labels] + (1 - case["lam"]) * np.eye(K)[labels[case["permutation"]]]
    np.testing.assert_allclose(targets, expected, atol=1e-6)


def test_errors():
    images, labels = np.zeros((4, 8, 8, 3), np.float32), np.arange(4) % K
    with pytest.raises(ValueError, match=r"AlignMix mixes feature maps inside a model's train step"):
        kmix.layers.AlignMix(num_classes=K)(images, labels)
    out = kmix.layers.AlignMix(num_classes=K)(images, labels, training=False)
    np.testing.assert_array_equal(out[0], images)
    with pytest.raises(ValueError, match=r"holding AlignMix chooses among mixers that mix inside a model's train step"):
        kmix.layers.RandomMixChoice([kmix.layers.AlignMix(), kmix.layers.CutMix()], num_classes=K)(images, labels)
    with pytest.raises(ValueError, match=r"`input_mixup_probability` must be a float in \[0, 1\]. Received: input_mixup_probability=1.5"):
        kmix.layers.AlignMix(input_mixup_probability=1.5)
    with pytest.raises(ValueError, match=r"`eps` must be a float > 0. Received: eps=-0.1"):
        kmix.layers.AlignMix(eps=-0.1)
    with pytest.raises(ValueError, match=r"`max_iter` must be an int >= 1. Received: max_iter=0"):
        kmix.layers.AlignMix(max_iter=0)
    with pytest.raises(TypeError, match=r"`max_iter` must be an int >= 1. Received: max_iter=2.5"):
        kmix.layers.AlignMix(max_iter=2.5)
    with pytest.raises(ValueError, match=r"`alpha` must be a float > 0"):
        kmix.layers.AlignMix(alpha=0)
    plan = kmix.layers.AlignMix().sample_plan(images, seed=0)
    with pytest.raises(ValueError, match=r"`features` must be feature maps of rank 4 \(B, H, W, C\). Received: features.shape=\(4, 6\)"):
        kmix.layers.AlignMix().mix_features(keras.ops.zeros((4, 6)), plan)
    with pytest.raises(ValueError, match=r"reads the alignment direction from the plan's `choice`.*Received: a plan with choice=None"):
        kmix.layers.AlignMix().mix_features(np.zeros((4, 2, 2, 3), np.float32), plan._replace(choice=None))
