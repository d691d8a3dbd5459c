"""MixKDMix: MIX-KD's full (FMU) and partial (PMU) mixup."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests.vectors import load

DATA = load("mixkd")
B = 64


def _unmixed_fractions(layer, draws=400):
    images = tf.zeros([B, 4, 4, 3])
    seeds = tf.stack([tf.fill([draws], 9), tf.range(draws)], axis=1)
    lam = tf.function(lambda s: tf.map_fn(
        lambda seed: layer.sample_plan(images, seed=seed).lam, s, fn_output_signature=tf.float32))
    return np.mean(lam(seeds).numpy() == 1.0, axis=1)


def test_partial_mixup_leaves_the_official_fraction_unmixed():
    # The official draw with replacement: 1 - (1 - 1/B)^int(0.9 B) of the rows,
    # 0.5975 measured on the official code (tests/data/vectors/mixkd.json).
    fractions = _unmixed_fractions(kmix.layers.MixKDMix(partial=0.9, seed=0))
    expected = 1 - (1 - 1 / B) ** int(0.9 * B)
    # Mean of 400 batches: its standard error is below 0.004; 4 of them is the bound.
    assert abs(fractions.mean() - expected) < 0.016, fractions.mean()
    assert abs(fractions.mean() - DATA["pmu_fraction_rows_with_onehot_target_B64_percent0.9"]) < 0.02


def test_the_exact_fraction_and_full_mixup():
    exact = _unmixed_fractions(kmix.layers.MixKDMix(partial=0.9, exact_fraction=True, seed=0), 20)
    np.testing.assert_array_equal(exact, int(0.9 * B) / B)
    full = _unmixed_fractions(kmix.layers.MixKDMix(partial=None, seed=0), 20)
    assert full.max() < 0.05  # only rows that drew lam == 1 or themselves


def test_pairs_come_from_a_uniform_permutation_with_a_ratio_per_row():
    layer = kmix.layers.MixKDMix(partial=None, seed=1)
    plan = layer.sample_plan(np.zeros((B, 4, 4, 3), np.float32))
    index = plan.index.numpy()
    assert sorted(index.tolist()) == list(range(B))  # a permutation
    assert len(np.unique(plan.lam.numpy())) > B // 2  # one ratio per row
    # Over many draws some rows are their own partner (torch.randperm pairs).
    seeds = tf.stack([tf.fill([300], 2), tf.range(300)], axis=1)
    draw = tf.function(lambda s: tf.map_fn(
        lambda seed: layer.sample_plan(tf.zeros([8, 4, 4, 3]), seed=seed).index, s,
        fn_output_signature=tf.int32))
    fixed = np.mean(draw(seeds).numpy() == np.arange(8))
    assert 0.08 < fixed < 0.17  # 1/8 expected


def test_errors_and_config():
    with pytest.raises(ValueError, match=r"`partial` must be"):
        kmix.layers.MixKDMix(partial=1.5)
    with pytest.raises(TypeError, match=r"`exact_fraction` must be a bool"):
        kmix.layers.MixKDMix(exact_fraction="yes")
    layer = kmix.layers.MixKDMix(partial=0.5, exact_fraction=True, num_classes=3, seed=4)
    assert kmix.layers.MixKDMix.from_config(layer.get_config()).get_config() == layer.get_config()
