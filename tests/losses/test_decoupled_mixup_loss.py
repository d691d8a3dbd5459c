"""Decoupled Mixup against the official openmixup values (decoupled_mixup.json)."""

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import step_record
from tests import vectors
from tests.losses import helpers

DATA = vectors.load("decoupled_mixup")
LOGITS = np.array(DATA["logits"], np.float32)
_spec = importlib.util.spec_from_file_location(
    "decoupled_mixup_numpy_ref", vectors.VECTORS / "decoupled_mixup_numpy_ref.py")
REF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REF)

# The four upstream configs as kmix arguments (all have lam_thr 1, thr 0.5):
# "base" (eta 0.1, both, pow idx 1: lambda-weighted, the default), the
# per-method "more" (pow idx 0.5) and "less" (pow idx 0) configs, and "const"
# (eta 1, both, none: the paper's constant form).
FORMS = {
    "base_r18_both_eta0.1_pow_idx1": dict(eta=0.1, lam_weighted=True),
    "a0_2_more_eta0.01_pow_idx0.5": dict(eta=0.01, lam_weighted=True, lam_power=0.5, mode="more"),
    "less_eta0.01_pow_idx0": dict(eta=0.01, lam_weighted=True, lam_power=0.0, mode="less"),
    "const_eta1_both_none": dict(eta=1.0, lam_weighted=False),
}


def cases(quirky):
    """Vector cases of our two forms, split by whether an upstream bug applies:
    the eta ordering quirk (row 0 own class > partner class, asymmetric etas)
    or the decoupled term skipped at lam == 0.5."""
    out = []
    for case in DATA["cases"]:
        etas = case["eta_weight_list_passed"]
        ordering = etas[0] != etas[1] and case["y_a"][0] > case["y_b"][0]
        applies = ordering or case["lam"] == 0.5
        if applies == quirky:
            out.append(pytest.param(case, FORMS[case["config"]], id=f"{case['scenario']}-{case['config']}"))
    assert out
    return out


def intended(logits, y_a, y_b, lam, eta, lam_weighted=True, lam_power=1.0, mode="both", threshold=0.5):
    """Independent per-row NumPy statement of the intended DM (partner-paired,
    nothing skipped at lam == 0.5), per-sample lam allowed."""
    logits = np.asarray(logits, np.float64)
    lam = np.broadcast_to(np.asarray(lam, np.float64), (len(y_a),))
    rows = []
    for z, a, b, l in zip(logits, y_a, y_b, lam):
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        t = np.zeros_like(z)
        t[a] += l
        t[b] += 1 - l
        row = -(t * np.log(p)).sum()
        if a != b and 1e-3 < l < 1 - 1e-3:
            e_a, e_b = (eta * l ** lam_power, eta * (1 - l) ** lam_power) if lam_weighted else (eta, eta)
            if mode != "both":
                own = l >= threshold if mode == "more" else l < threshold
                e_a, e_b = (e_a, 0.0) if own else (0.0, e_b)
            row += -e_a * np.log(p[a] / (1 - p[b])) - e_b * np.log(p[b] / (1 - p[a]))
        rows.append(row)
    return np.array(rows)


@pytest.mark.parametrize("case,form", cases(quirky=False))
def test_matches_the_official_loss_where_no_upstream_bug_applies(case, form):
    per_sample = kmix.losses.decoupled_mixup(
        np.array(case["y_a"]), np.array(case["y_b"]), case["lam"], LOGITS, **form
    ).numpy()
    np.testing.assert_allclose(per_sample.mean(), case["loss"], atol=1e-5)
    if "per_sample" in case:
        np.testing.assert_allclose(per_sample, case["per_sample"], atol=1e-5)


@pytest.mark.parametrize("case,form", cases(quirky=True))
def test_differs_from_the_official_loss_where_an_upstream_bug_applies(case, form):
    cfg = {k: case["config_params"][k] for k in ("eta", "mode", "thr", "scale_mode", "lam_thr", "lam_idx")}
    quirky = REF.dm_loss(LOGITS, case["y_a"], case["y_b"], case["lam"], cfg)
    np.testing.assert_allclose(quirky, case["loss"], atol=1e-5)  # the ref reproduces upstream
    ours = kmix.losses.decoupled_mixup(
        np.array(case["y_a"]), np.array(case["y_b"]), case["lam"], LOGITS, **form
    ).numpy()
    expected = intended(LOGITS, case["y_a"], case["y_b"], case["lam"], **form)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert abs(ours.mean() - case["loss"]) > 1e-3
    if case["lam"] != 0.5:  # the ordering quirk alone: the ref's flag gives our value
        fixed = REF.dm_loss(LOGITS, case["y_a"], case["y_b"], case["lam"], cfg, ordering_quirk=False)
        np.testing.assert_allclose(ours.mean(), fixed, atol=1e-5)


def test_per_sample_lambda_and_soft_labels():
    y_a, y_b = np.array([1, 3, 0, 4, 2, 1]), np.array([3, 0, 0, 2, 1, 2])
    lam = np.array([0.9, 0.5, 0.3, 0.0, 1.0, 0.62], np.float32)
    got = kmix.losses.decoupled_mixup(y_a, y_b, lam, LOGITS, eta=0.3, lam_weighted=True)
    np.testing.assert_allclose(got, intended(LOGITS, y_a, y_b, lam, 0.3, True), atol=1e-5)
    for form in FORMS.values():
        got_form = kmix.losses.decoupled_mixup(y_a, y_b, lam, LOGITS, **form)
        np.testing.assert_allclose(got_form, intended(LOGITS, y_a, y_b, lam, **form), atol=1e-5)
    one_hot = np.eye(5, dtype=np.float32)
    got_soft = kmix.losses.decoupled_mixup(one_hot[y_a], one_hot[y_b], lam, LOGITS, 0.3, True)
    np.testing.assert_allclose(got_soft, got, atol=1e-6)


def test_class_reads_the_plan_and_averages_over_the_full_batch():
    case = next(c for c in DATA["cases"] if c["scenario"] == "with_same_class_row"
                and c["config"] == "base_r18_both_eta0.1_pow_idx1")
    # y_b = take(y_a, index): find an index that gives the vector's partners.
    y_a, y_b = np.array(case["y_a"]), np.array(case["y_b"])
    index = [int(np.flatnonzero(y_a == b)[0]) for b in y_b]
    assert (y_a[index] == y_b).all()
    with helpers.step(helpers.plan(index, case["lam"])):
        loss = kmix.losses.DecoupledMixupLoss(eta=0.1)(y_a, LOGITS)
    np.testing.assert_allclose(loss, case["loss"], atol=1e-5)


def test_evaluation_is_the_plain_crossentropy():
    labels = np.array([1, 3, 0, 4, 2, 1])
    with helpers.step(helpers.plan(np.arange(6), 1.0), training=False):
        loss = kmix.losses.DecoupledMixupLoss(eta=1.0)(labels, LOGITS)
    expected = keras.losses.sparse_categorical_crossentropy(labels, LOGITS, from_logits=True)
    np.testing.assert_allclose(loss, np.mean(expected), atol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 1.0, 0.5])
@pytest.mark.parametrize("batch", [1, 4])
def test_finite_values_and_gradients_at_the_edges(lam, batch):
    logits = tf.Variable(np.random.default_rng(0).normal(size=(batch, 5)).astype(np.float32) * 30)
    labels = np.arange(batch) % 5
    partners = np.roll(labels, 1)  # a batch of one pairs each row with itself
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(kmix.losses.decoupled_mixup(labels, partners, lam, logits, 1.0, False))
    grad = tape.gradient(loss, logits)
    assert np.isfinite(loss.numpy()) and np.isfinite(grad.numpy()).all()


def test_no_stop_gradient_the_decoupled_term_carries_gradient():
    logits = tf.Variable(LOGITS)
    y_a, y_b = np.array([1, 3, 0, 4, 2, 1]), np.array([3, 0, 4, 2, 1, 2])
    grads = []
    for eta in (0.0, 1.0):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(kmix.losses.decoupled_mixup(y_a, y_b, 0.7, logits, eta))
        grads.append(tape.gradient(loss, logits).numpy())
    assert np.abs(grads[1] - grads[0]).max() > 1e-3


def test_get_config_round_trip():
    loss = kmix.losses.DecoupledMixupLoss(eta=0.25, lam_weighted=False, lam_power=0.5, mode="less",
                                          threshold=0.4, label_smoothing=0.1, name="dm")
    config = loss.get_config()
    assert {"eta", "lam_weighted", "lam_power", "mode", "threshold", "label_smoothing", "name",
            "reduction"} <= set(config)
    assert kmix.losses.DecoupledMixupLoss.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is kmix.losses.DecoupledMixupLoss and restored.get_config() == config


def test_errors():
    with pytest.raises(ValueError, match=r"`eta` must be a float >= 0. Received: eta=-0.1"):
        kmix.losses.DecoupledMixupLoss(eta=-0.1)
    with pytest.raises(ValueError, match=r"`eta` must be a float >= 0. Received: eta=-1"):
        kmix.losses.decoupled_mixup([0], [1], 0.5, LOGITS[:1], eta=-1)
    with pytest.raises(ValueError, match=r"`mode` must be 'both' or 'more' or 'less'. Received: mode='all'"):
        kmix.losses.DecoupledMixupLoss(mode="all")
    with pytest.raises(ValueError, match=r"`lam_power` must be a float >= 0. Received: lam_power=-1"):
        kmix.losses.decoupled_mixup([0], [1], 0.5, LOGITS[:1], lam_power=-1)
    with pytest.raises(TypeError, match=r"`eta` must be a float >= 0. Received: eta='big'"):
        kmix.losses.DecoupledMixupLoss(eta="big")
    with pytest.raises(ValueError, match=r"`logits` must be logits of shape \(B, K\). Received: logits.shape=\(6, 5, 1\)"):
        kmix.losses.decoupled_mixup([0] * 6, [1] * 6, 0.5, LOGITS[..., None])
    with helpers.step(helpers.plan([1, 0], 0.6)):
        with pytest.raises(ValueError, match=r"`y_pred` must be logits of shape \(B, K\). Received: y_pred.shape=\(2,\)"):
            kmix.losses.DecoupledMixupLoss()(np.array([0, 1]), np.zeros(2, np.float32))


def test_the_loss_in_fit_is_the_function_on_the_step_plan():
    images, labels = helpers.tiny_data(8)
    model = helpers.tiny_model(kmix.layers.MixUp(num_classes=4, seed=3, lam_scope="sample"))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=kmix.losses.DecoupledMixupLoss(eta=1.0))
    seen = {}

    class Spy(kmix.losses.DecoupledMixupLoss):
        def call(self, y_true, y_pred):
            record = step_record.get_record()
            seen["plan"], seen["logits"] = record.plan, y_pred
            return super().call(y_true, y_pred)

    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=Spy(eta=1.0), run_eagerly=True)
    loss = float(model.train_on_batch(images, labels))
    plan = seen["plan"]
    expected = kmix.losses.decoupled_mixup(labels, labels[plan.index.numpy()], plan.lam, seen["logits"], 1.0)
    np.testing.assert_allclose(loss, np.mean(expected), rtol=1e-5)
    assert len(set(np.round(plan.lam.numpy(), 5))) > 1  # per-sample lambdas reached the loss


@pytest.mark.slow
def test_fits_under_mirrored_strategy(two_cpus):
    helpers.fit_mirrored(two_cpus, lambda: kmix.losses.DecoupledMixupLoss())
