"""LUMixLoss (no official code exists: tested against its own documented formula)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests.losses import helpers

LABELS = np.array([0, 1, 2, 3, 0, 1])
INDEX = [1, 2, 3, 0, 4, 0]  # row 4 pairs with itself (no mix)
LOGITS = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
SEED = tf.constant([7, 11], tf.int32)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def expected_loss(lam, noise, w, labels=LABELS, index=INDEX, logits=LOGITS):
    """The documented formula, in NumPy, given the drawn noise."""
    lam = np.broadcast_to(np.asarray(lam, np.float64), labels.shape)
    partner = labels[index]
    p = softmax(logits.astype(np.float64))
    rows = np.arange(len(labels))
    lam_pred = p[rows, labels] / (p[rows, labels] + p[rows, partner])
    new = np.clip((1 - w) * np.clip(lam + noise, 0, 1) + w * lam_pred, 0, 1)
    new = np.where((labels != partner) & (lam > 0) & (lam < 1), new, lam)
    t = new[:, None] * np.eye(4)[labels] + (1 - new[:, None]) * np.eye(4)[partner]
    return np.mean(-(t * np.log(p)).sum(axis=1)), new


@pytest.mark.parametrize("noise", ["uniform", "gaussian"])
def test_matches_the_documented_formula(noise):
    loss = kmix.losses.LUMixLoss(noise=noise, noise_scale=0.2, prediction_weight=0.3)
    lam = np.array([0.7, 0.2, 0.55, 0.9, 0.4, 0.6], np.float32)
    with helpers.step(helpers.plan(INDEX, lam), loss_seed=SEED):
        value = float(loss(LABELS, LOGITS))
    salted = tf.random.experimental.stateless_fold_in(SEED, 0x4C554D)
    if noise == "uniform":
        draws = tf.random.stateless_uniform([6], salted, minval=-0.2, maxval=0.2).numpy()
        assert np.abs(draws).max() <= 0.2
    else:
        draws = 0.2 * tf.random.stateless_normal([6], salted).numpy()
    expected, new_lam = expected_loss(lam, draws, 0.3)
    np.testing.assert_allclose(value, expected, atol=1e-5)
    assert np.abs(new_lam - lam)[LABELS != LABELS[INDEX]].min() > 1e-4  # the ratio moved


def test_no_noise_and_no_prediction_is_mixup_crossentropy():
    lam = np.full(6, 0.65, np.float32)
    with helpers.step(helpers.plan(INDEX, lam), loss_seed=SEED):
        value = float(kmix.losses.LUMixLoss(noise="none", prediction_weight=0.0)(LABELS, LOGITS))
        reference = float(kmix.losses.MixupCrossentropy()(LABELS, LOGITS))
    np.testing.assert_allclose(value, reference, atol=1e-6)


def test_prediction_only_moves_lambda_towards_the_prediction():
    lam = np.full(6, 0.5, np.float32)
    with helpers.step(helpers.plan(INDEX, lam), loss_seed=SEED):
        value = float(kmix.losses.LUMixLoss(noise="none", prediction_weight=1.0)(LABELS, LOGITS))
    expected, _ = expected_loss(lam, np.zeros(6), 1.0)
    np.testing.assert_allclose(value, expected, atol=1e-5)


def test_the_ratio_is_detached_the_gradient_is_that_of_fixed_targets():
    loss = kmix.losses.LUMixLoss(noise="uniform", noise_scale=0.3, prediction_weight=0.7)
    lam = np.array([0.7, 0.2, 0.55, 0.9, 0.4, 0.6], np.float32)
    logits = tf.Variable(LOGITS)
    with helpers.step(helpers.plan(INDEX, lam), loss_seed=SEED) as record:
        with tf.GradientTape() as tape:
            value = loss(LABELS, logits)
        grad = tape.gradient(value, logits).numpy()
        y = np.eye(4, dtype=np.float32)[LABELS]
        new_lam = loss.perturbed_lambda(tf.constant(y), tf.constant(y[INDEX]), tf.constant(lam), logits, record).numpy()
    targets = new_lam[:, None] * y + (1 - new_lam[:, None]) * y[INDEX]
    np.testing.assert_allclose(grad, (softmax(LOGITS) - targets) / 6, atol=1e-6)


def test_seeded_by_the_step_different_seeds_give_different_noise():
    lam = np.full(6, 0.6, np.float32)
    loss = kmix.losses.LUMixLoss(noise="uniform", noise_scale=0.3, prediction_weight=0.0)
    values = []
    for seed in ([1, 2], [1, 2], [3, 4]):
        with helpers.step(helpers.plan(INDEX, lam), loss_seed=tf.constant(seed)):
            values.append(float(loss(LABELS, LOGITS)))
    assert values[0] == values[1] and values[0] != values[2]


def test_evaluation_is_the_plain_crossentropy():
    with helpers.step(helpers.plan(np.arange(6), 1.0), training=False):
        value = float(kmix.losses.LUMixLoss(noise_scale=0.5)(LABELS, LOGITS))
    expected = keras.losses.sparse_categorical_crossentropy(LABELS, LOGITS, from_logits=True).numpy().mean()
    np.testing.assert_allclose(value, expected, atol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 1.0])
@pytest.mark.parametrize("batch", [1, 4])
def test_finite_and_unmixed_rows_keep_their_lambda(lam, batch):
    labels = np.zeros(batch, int)
    labels[-1] = 1 % 4
    logits = tf.Variable(np.random.default_rng(0).normal(size=(batch, 4)).astype(np.float32) * 50)
    index = np.roll(np.arange(batch), 1)
    loss = kmix.losses.LUMixLoss(noise="gaussian", noise_scale=0.5, prediction_weight=0.5)
    with helpers.step(helpers.plan(index, lam), loss_seed=SEED):
        with tf.GradientTape() as tape:
            value = loss(labels, logits)
        reference = kmix.losses.MixupCrossentropy()(labels, logits)
    assert np.isfinite(value.numpy()) and np.isfinite(tape.gradient(value, logits).numpy()).all()
    np.testing.assert_allclose(value, reference, rtol=1e-6)


def test_get_config_round_trip():
    loss = kmix.losses.LUMixLoss(noise="gaussian", noise_scale=0.05, prediction_weight=0.25,
                                 label_smoothing=0.1, name="lu")
    config = loss.get_config()
    assert kmix.losses.LUMixLoss.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is kmix.losses.LUMixLoss and restored.get_config() == config


def test_errors():
    with pytest.raises(ValueError, match=r"`noise` must be 'uniform' or 'gaussian' or 'none'. Received: noise='beta'"):
        kmix.losses.LUMixLoss(noise="beta")
    with pytest.raises(ValueError, match=r"`noise_scale` must be a float >= 0. Received: noise_scale=-0.1"):
        kmix.losses.LUMixLoss(noise_scale=-0.1)
    with pytest.raises(ValueError, match=r"`prediction_weight` must be a float in \[0, 1\]. Received: prediction_weight=1.5"):
        kmix.losses.LUMixLoss(prediction_weight=1.5)
    with helpers.step(helpers.plan([1, 0], 0.6)):
        with pytest.raises(ValueError, match=r"`y_pred` must be logits of shape \(B, K\). Received: y_pred.shape=\(2, 4, 1\)"):
            kmix.losses.LUMixLoss()(np.array([0, 1]), np.zeros((2, 4, 1), np.float32))
        with pytest.raises(ValueError, match=r"LUMixLoss draws its label noise from the step seed .* Received: a step mixed by Source without a seed"):
            kmix.losses.LUMixLoss()(np.array([0, 1]), np.zeros((2, 4), np.float32))


def test_fits_under_mirrored_strategy(two_cpus):
    helpers.fit_mirrored(two_cpus, lambda: kmix.losses.LUMixLoss(noise="gaussian"))
