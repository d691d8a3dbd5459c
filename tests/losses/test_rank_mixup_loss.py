"""RankMixup MRL / M-NDCG against the official values (rankmixup.json)."""

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import step_record
from tests import vectors
from tests.losses import helpers

DATA = vectors.load("rankmixup")
MRL, NDCG = DATA["mrl"], DATA["mndcg"]
_spec = importlib.util.spec_from_file_location(
    "rankmixup_numpy_ref", vectors.VECTORS / "rankmixup_numpy_ref.py")
REF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REF)


def f32(x):
    return np.asarray(x, np.float32)


def mrl_ids(case):
    return f"{case['case']}-margin{case['margin']}"


@pytest.mark.parametrize("case", MRL["cases"], ids=mrl_ids)
def test_mrl_function_matches_the_official_term_and_its_intent(case):
    raw, mixed = f32(MRL["raw_logits"]), f32(MRL["mixed_logits"])
    target_re = f32(case["target_re"])
    same = (target_re == 1.0).any(axis=1)
    upstream = kmix.losses.rank_mixup_mrl(raw, mixed, same, case["margin"], upstream_broadcast=True)
    np.testing.assert_allclose(upstream, case["loss_mixup"], atol=1e-5)
    ours = kmix.losses.rank_mixup_mrl(raw, mixed, same, case["margin"])
    _, _, intended = REF.mrl(raw, np.array(MRL["targets"]), mixed, target_re, case["margin"],
                             upstream_broadcast=False)
    np.testing.assert_allclose(ours, intended, atol=1e-5)
    if same.any():  # the broadcast bug changes the value only when rows are dropped
        assert abs(float(ours) - case["loss_mixup"]) > 1e-3
    else:
        np.testing.assert_allclose(ours, case["loss_mixup"], atol=1e-5)


@pytest.mark.parametrize("upstream_broadcast", [False, True])
@pytest.mark.parametrize("case", MRL["cases"], ids=mrl_ids)
def test_mrl_class_is_clean_ce_plus_weighted_term(case, upstream_broadcast):
    raw, mixed, labels = f32(MRL["raw_logits"]), f32(MRL["mixed_logits"]), np.array(MRL["targets"])
    loss = kmix.losses.RankMixupLoss(mode="mrl", margin=case["margin"], weight=case["alpha"],
                                     upstream_broadcast=upstream_broadcast)
    with helpers.step(helpers.plan(case["perm"], case["lam"]), mixed_logits=tf.constant(mixed[None])):
        value = float(loss(labels, raw))
    if upstream_broadcast:
        np.testing.assert_allclose(value, case["loss"], atol=1e-5)
    else:
        total, _, _ = REF.mrl(raw, labels, mixed, f32(case["target_re"]), case["margin"], case["alpha"],
                              upstream_broadcast=False)
        np.testing.assert_allclose(value, total, atol=1e-5)


def ndcg_inputs():
    labels = np.array(NDCG["targets"])
    num_mixes = len(NDCG["lams"])
    mixed = f32(NDCG["mixed_logits"]).reshape(num_mixes, len(labels), -1)
    relevance = f32(NDCG["target_re"]).reshape(num_mixes, len(labels), -1).max(axis=-1)
    return f32(NDCG["raw_logits"]), mixed, relevance, labels


def test_mndcg_function_matches_the_official_term():
    raw, mixed, relevance, _ = ndcg_inputs()
    np.testing.assert_allclose(kmix.losses.rank_mixup_mndcg(raw, mixed, relevance), NDCG["loss_mixup"], atol=1e-5)
    per_sample = helpers_per_sample(raw, mixed, relevance)
    np.testing.assert_allclose(1.0 - per_sample, NDCG["per_sample_ndcg"], atol=1e-5)


def helpers_per_sample(raw, mixed, relevance):
    from kmix.losses.rank_mixup_loss import _mndcg_per_sample

    return _mndcg_per_sample(tf.constant(raw), tf.constant(mixed), tf.constant(relevance)).numpy()


def test_mndcg_class_is_clean_ce_plus_weighted_term_with_each_mix_its_own_plan():
    raw, mixed, _, labels = ndcg_inputs()
    plans = [helpers.plan(perm, lam) for perm, lam in zip(NDCG["perms"], NDCG["lams"])]
    loss = kmix.losses.RankMixupLoss(mode="mndcg", weight=NDCG["alpha"])
    assert loss.num_mixes == 3
    with helpers.step(plans, mixed_logits=tf.constant(mixed)):
        value = float(loss(labels, raw))
    np.testing.assert_allclose(value, NDCG["loss"], atol=1e-5)


def test_mndcg_ties_are_ranked_stably():
    raw = f32([[2.0, 0.0, 0.0]])
    mixed = f32([[[1.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]], [[0.5, 0.0, 0.0]]])
    relevance = f32([[0.6], [0.6], [0.9]])
    got = float(kmix.losses.rank_mixup_mndcg(raw, mixed, relevance))
    # Stable order: mix 2 (0.9), then mix 0, then mix 1.
    _, _, expected, _ = REF.mndcg(raw, np.array([0]), mixed.reshape(3, 3),
                                  np.stack([np.array([r[0], 1 - r[0], 0.0]) for r in relevance]).astype(np.float32), 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_relevance_and_mask_count_same_class_and_unmixed_rows():
    labels = np.array([0, 0, 1, 2])
    raw = f32(np.eye(4, 3) * 3)
    mixed = f32(np.full((1, 4, 3), 0.5))
    # row 0 pairs with row 1 (same class), row 2 is unmixed (lam 1), row 3 mixes.
    plan = kmix.MixPlan(tf.constant([1, 0, 3, 2]), tf.ones([4, 1, 1, 1]), tf.constant([0.7, 0.7, 1.0, 0.7]))
    loss = kmix.losses.RankMixupLoss(mode="mrl", margin=10.0, weight=1.0)
    with helpers.step(plan, mixed_logits=tf.constant(mixed)):
        value = float(loss(labels, raw))
    ce = keras.losses.sparse_categorical_crossentropy(labels, raw, from_logits=True).numpy().mean()
    hinge = np.maximum(0.5 - raw.max(axis=1) + 10.0, 0)
    np.testing.assert_allclose(value, ce + (hinge * [0, 0, 0, 1]).mean(), atol=1e-5)


def test_gradients_flow_through_both_logits_and_are_finite():
    raw, mixed, relevance, _ = ndcg_inputs()
    raw_v, mixed_v = tf.Variable(raw), tf.Variable(mixed)
    with tf.GradientTape() as tape:
        loss = kmix.losses.rank_mixup_mndcg(raw_v, mixed_v, relevance)
    g_raw, g_mixed = tape.gradient(loss, [raw_v, mixed_v])
    assert np.abs(g_raw.numpy()).max() > 0 and np.abs(g_mixed.numpy()).max() > 0


@pytest.mark.parametrize("mode", ["mrl", "mndcg"])
@pytest.mark.parametrize("lam", [0.0, 1.0])
@pytest.mark.parametrize("batch", [1, 3])
def test_finite_at_the_edges(mode, lam, batch):
    raw = f32(np.random.default_rng(0).normal(size=(batch, 4)) * 40)
    labels = np.zeros(batch, int)  # all the same class
    loss = kmix.losses.RankMixupLoss(mode=mode, num_mixes=2)
    plans = [helpers.plan(np.roll(np.arange(batch), 1), lam)] * 2
    with helpers.step(plans, mixed_logits=tf.constant(np.stack([raw * 0.5, raw]))):
        assert np.isfinite(float(loss(labels, raw)))


def test_evaluation_is_the_clean_crossentropy():
    raw, labels = f32(MRL["raw_logits"]), np.array(MRL["targets"])
    with helpers.step(helpers.plan(np.arange(6), 1.0), training=False):
        value = float(kmix.losses.RankMixupLoss()(labels, raw))
    np.testing.assert_allclose(value, REF.ce_mean(raw, labels), atol=1e-5)


def test_get_config_round_trip():
    loss = kmix.losses.RankMixupLoss(mode="mndcg", num_mixes=2, margin=1.0, weight=0.3,
                                     confidence="probabilities", upstream_broadcast=True,
                                     label_smoothing=0.1, name="rank")
    config = loss.get_config()
    assert kmix.losses.RankMixupLoss.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is kmix.losses.RankMixupLoss and restored.get_config() == config
    assert kmix.losses.RankMixupLoss().num_mixes == 1


def test_errors():
    with pytest.raises(ValueError, match=r"`num_mixes` must be an int >= 1. Received: num_mixes=0"):
        kmix.losses.RankMixupLoss(num_mixes=0)
    with pytest.raises(ValueError, match=r"`mode` must be 'mrl' or 'mndcg'. Received: mode='ndcg'"):
        kmix.losses.RankMixupLoss(mode="ndcg")
    with pytest.raises(ValueError, match=r"`weight` must be a float >= 0. Received: weight=-1"):
        kmix.losses.RankMixupLoss(weight=-1)
    with pytest.raises(ValueError, match=r"`confidence` must be 'logits' or 'probabilities'. Received: confidence='max'"):
        kmix.losses.rank_mixup_mrl(np.zeros((2, 3)), np.zeros((2, 3)), [0, 0], confidence="max")
    with pytest.raises(ValueError, match=r"`raw_logits` must be logits of shape \(B, K\). Received: raw_logits.shape=\(2,\)"):
        kmix.losses.rank_mixup_mndcg(np.zeros(2), np.zeros((1, 2, 3)), np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"`mixed_logits` must be logits of shape \(B, K\) or \(M, B, K\). Received: mixed_logits.shape=\(2,\)"):
        kmix.losses.rank_mixup_mrl(np.zeros((2, 3)), np.zeros(2), [0, 0])
    with pytest.raises(ValueError, match=r"`relevance` must have shape \(B,\) or \(M, B\)"):
        kmix.losses.rank_mixup_mndcg(np.zeros((2, 3)), np.zeros((1, 2, 3)), np.ones((1, 2, 1)))


def test_plain_keras_model_raises_at_the_first_step():
    images, labels = helpers.tiny_data(8)
    model = helpers.plain_model()
    model.compile(optimizer="sgd", loss=kmix.losses.RankMixupLoss())
    step_record.clear_record()
    with pytest.raises(ValueError, match=r"RankMixupLoss needs the mixing plan of the training step"):
        model.fit(images, labels, verbose=0)


def test_mixing_layer_inside_the_model_raises_at_the_first_step():
    images, labels = helpers.tiny_data(8)
    model = keras.Sequential([
        keras.Input((8, 8, 3)), kmix.layers.MixUp(seed=0), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4)])
    model.compile(optimizer="sgd", loss=kmix.losses.RankMixupLoss())
    with pytest.raises(ValueError, match=r"RankMixupLoss compares the clean and the mixed predictions .* Received: a step mixed by MixUp without clean logits"):
        model.fit(images, labels, verbose=0)


def test_model_output_not_logits_raises_at_the_first_step():
    images, labels = helpers.tiny_data(8)
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(4)(keras.layers.Reshape((64, 3))(inputs))  # (B, 64, 4)
    model = kmix.models.MixingModel(inputs, outputs, mixer=kmix.layers.MixUp(num_classes=4, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.RankMixupLoss())
    with pytest.raises(ValueError, match=r"needs a model whose output is logits of shape \(B, K\). Received: output of shape \(None, 64, 4\)"):
        model.fit(images, labels, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("mode,jit", [("mrl", False), ("mndcg", True)], ids=["mrl-graph", "mndcg-xla"])
def test_fits_in_a_mixing_model_in_one_concatenated_pass(mode, jit):
    images, labels = helpers.tiny_data(16)
    model = helpers.tiny_model(kmix.layers.MixUp(alpha=2.0, num_classes=4, seed=0), batch_norm=True)
    calls = []
    inner_call = model.call

    def counting_call(*args, **kwargs):
        calls.append(keras.tree.flatten(args[0])[0].shape[0])
        return inner_call(*args, **kwargs)

    model.call = counting_call
    loss = kmix.losses.RankMixupLoss(mode=mode, num_mixes=2)
    model.compile(optimizer="sgd", loss=loss, jit_compile=jit, metrics=["accuracy"])
    validation = None if jit else (images, labels)
    history = model.fit(images, labels, batch_size=8, epochs=2, validation_data=validation, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert 24 in calls  # clean 8 + 2 mixes of 8, one forward pass


def test_the_loss_in_fit_uses_the_recorded_mixes():
    images, labels = helpers.tiny_data(8)
    model = helpers.tiny_model(kmix.layers.MixUp(num_classes=4, seed=2, lam_scope="sample"))
    seen = {}

    class Spy(kmix.losses.RankMixupLoss):
        def call(self, y_true, y_pred):
            record = step_record.get_record()
            if record.training:
                seen.update(mixed_logits=record.mixed_logits, plans=record.plans, raw=y_pred)
            return super().call(y_true, y_pred)

    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=Spy(mode="mndcg", weight=1.0), run_eagerly=True)
    value = float(model.train_on_batch(images, labels))
    assert seen["mixed_logits"].shape == (3, 8, 4) and len(seen["plans"]) == 3
    lams = [p.lam.numpy() for p in seen["plans"]]
    assert len({tuple(np.round(l, 5)) for l in lams}) == 3  # each mix has its own lambda
    relevance = np.stack([np.where(labels[p.index.numpy()] == labels, 1.0, np.maximum(l, 1 - l))
                          for p, l in zip(seen["plans"], lams)])
    expected = REF.ce_mean(seen["raw"].numpy(), labels) + float(
        kmix.losses.rank_mixup_mndcg(seen["raw"], seen["mixed_logits"], relevance))
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    # the mixed logits are the model's logits on the mixed images of each plan
    mixed_images = kmix.ops.mix_images(images, seen["plans"][1])
    np.testing.assert_allclose(seen["mixed_logits"][1], model(mixed_images), atol=1e-5)


@pytest.mark.slow
def test_fits_under_mirrored_strategy(two_cpus):
    helpers.fit_mirrored(two_cpus, lambda: kmix.losses.RankMixupLoss(mode="mndcg", num_mixes=2))


def test_mrl_on_probabilities():
    raw, mixed = f32(MRL["raw_logits"]), f32(MRL["mixed_logits"])
    case = MRL["cases"][3]
    same = (f32(case["target_re"]) == 1.0).any(axis=1)

    def softmax_max(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).max(axis=1)

    expected = np.mean(~same * np.maximum(softmax_max(mixed) - softmax_max(raw) + 0.1, 0))
    got = kmix.losses.rank_mixup_mrl(raw, mixed, same, margin=0.1, confidence="probabilities")
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert expected > 0
