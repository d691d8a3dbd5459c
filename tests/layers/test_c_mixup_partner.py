"""C-Mixup in a layer: label-distance partners, regression targets, inputs of any rank."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot

L = kmix.layers


def _regression_mixer(**kwargs):
    kwargs.setdefault("partner", L.CMixupPartner(bandwidth=0.5))
    return L.MixUp(alpha=2.0, label_mode="regression", any_rank=True, **kwargs)


def test_in_batch_partners_follow_the_label_distance_law():
    # 3000 plans of one batch; per anchor, Pearson's statistic over the rows
    # with expected count >= 5 stays below the 0.999 quantile of chi-square
    # (Wilson-Hilferty); seeded, so deterministic.
    targets = np.array([0.1, 0.5, 0.55, 1.2, 2.0, 2.1, 3.0, 4.5], np.float32)
    features = np.zeros((8, 3), np.float32)
    layer = _regression_mixer()
    seeds = tf.stack([tf.fill([3000], 5), tf.range(3000)], axis=1)
    draw = tf.function(lambda s: tf.map_fn(
        lambda seed: layer.sample_plan(features, seed=seed, labels=targets).index, s,
        fn_output_signature=tf.int32))
    index = draw(seeds).numpy()
    p = kmix.ops.c_mixup_probabilities(targets, bandwidth=0.5).numpy()
    for i in range(8):
        counts = np.bincount(index[:, i], minlength=8)
        expected = p[i] * len(index)
        cells = expected >= 5
        chi2 = float(((counts[cells] - expected[cells]) ** 2 / expected[cells]).sum())
        dof = max(int(cells.sum()) - 1, 1)
        assert chi2 < dof * (1 - 2 / (9 * dof) + 3.09 * np.sqrt(2 / (9 * dof))) ** 3, (i, counts)


@pytest.mark.parametrize("shape", [(8, 5), (8, 6, 4), (8, 4, 4, 2, 3)], ids=["features", "sequences", "rank5"])
@pytest.mark.parametrize("target_shape", [(8,), (8, 2)], ids=["scalar", "vector"])
def test_regression_targets_mix_linearly_with_inputs_of_any_rank(shape, target_shape):
    rng = np.random.default_rng(0)
    x = rng.random(shape).astype(np.float32)
    y = rng.normal(size=target_shape).astype(np.float32)
    layer = _regression_mixer(seed=3, lam_scope="sample")
    mixed_x, mixed_y = layer(x, y)
    plan = _regression_mixer(seed=3, lam_scope="sample").sample_plan(x, labels=y)
    lam, index = plan.lam.numpy(), plan.index.numpy()
    lam_x = lam.reshape((-1,) + (1,) * (len(shape) - 1))
    np.testing.assert_allclose(mixed_x.numpy(), lam_x * x + (1 - lam_x) * x[index], atol=1e-6)
    lam_y = lam if len(target_shape) == 1 else lam[:, None]
    np.testing.assert_allclose(mixed_y.numpy(), lam_y * y + (1 - lam_y) * y[index], atol=1e-6)
    assert mixed_y.shape == target_shape


def test_float_targets_are_never_class_ids_in_regression_mode():
    x = np.zeros((4, 3), np.float32)
    y = np.array([0.3, 1.7, -2.0, 5.5], np.float32)
    _, mixed = L.MixUp(label_mode="regression", any_rank=True, seed=0)(x, y)
    assert mixed.shape == (4,)
    with pytest.raises(ValueError, match=r"must have rank 4"):
        L.MixUp(num_classes=3)(x, np.arange(4) % 3)  # images only without any_rank


def test_in_tf_data_and_in_a_compiled_regression_step():
    rng = np.random.default_rng(1)
    x = rng.random((32, 5)).astype(np.float32)
    y = (x @ rng.random((5,))).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).map(
        _regression_mixer(seed=0), num_parallel_calls=2
    )
    batches = list(ds)
    assert len(batches) == 4 and batches[0][0].shape == (8, 5) and batches[0][1].shape == (8,)
    inputs = keras.Input((5,))
    model = kmix.models.MixingModel(inputs, keras.layers.Dense(1)(inputs), mixer=_regression_mixer(seed=0))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=True)
    history = model.fit(x, y, batch_size=8, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_config_round_trips_with_the_partner_sampler():
    layer = _regression_mixer(seed=2, partner=L.CMixupPartner(bandwidth=1.75, kernel="tophat", standardize=True))
    config = layer.get_config()
    clone = L.MixUp.from_config(config)
    assert isinstance(clone.partner, L.CMixupPartner)
    assert clone.partner.get_config() == {"bandwidth": 1.75, "kernel": "tophat", "standardize": True}
    assert clone.get_config() == config


def test_errors():
    with pytest.raises(ValueError, match=r"label_mode='regression' .* `num_classes` must be None"):
        L.MixUp(label_mode="regression", num_classes=3)
    with pytest.raises(ValueError, match=r"`label_mode` must be one of \('classification', 'regression'\)"):
        L.MixUp(label_mode="ordinal")
    with pytest.raises(ValueError, match=r"needs the labels of the batch"):
        _regression_mixer()(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"`partner` must be one of .* or a partner sampler"):
        L.MixUp(partner="nearest")
    with pytest.raises(TypeError, match=r"`standardize` must be a bool"):
        L.CMixupPartner(standardize="yes")
    # Mixers that need a spatial grid keep refusing other ranks.
    with pytest.raises(ValueError, match=r"`images` must have rank 4 \(B, H, W, C\) or rank 3 .* Received: images.shape=\(4, 8\)"):
        L.CutMix(num_classes=3)(np.zeros((4, 8), np.float32), np.arange(4) % 3)


def test_in_graph_c_mixup_under_mirrored_strategy(two_cpus):
    rng = np.random.default_rng(2)
    x = rng.random((32, 5)).astype(np.float32)
    y = (x @ rng.random((5,))).astype(np.float32)
    with two_cpus.scope():
        inputs = keras.Input((5,))
        model = kmix.models.MixingModel(inputs, keras.layers.Dense(1)(inputs), mixer=_regression_mixer(seed=0))
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = trainable_snapshot(model)
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert_replicas_in_sync(two_cpus, model, before)
