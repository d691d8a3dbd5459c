"""Streaming calibration metrics give the functions' values over batched data."""


import keras
import numpy as np
import pytest

import kmix
from tests import vectors
from tests.losses import helpers

CAL = vectors.load("rankmixup")["calibration"]
LOGITS = np.array(CAL["logits"], np.float32)
LABELS = np.array(CAL["labels"])

METRICS = {
    "ece": (lambda **kw: kmix.metrics.ExpectedCalibrationError(**kw), kmix.metrics.expected_calibration_error),
    "adaece": (lambda **kw: kmix.metrics.AdaptiveCalibrationError(max_samples=256, **kw),
               kmix.metrics.adaptive_calibration_error),
    "classwise_ece": (lambda **kw: kmix.metrics.ClasswiseCalibrationError(num_classes=10, **kw),
                      kmix.metrics.classwise_calibration_error),
}


@pytest.mark.parametrize("key", list(METRICS))
def test_batches_give_the_official_value_of_the_whole_set(key):
    make, fn = METRICS[key]
    metric = make(from_logits=True)
    for start, stop in [(0, 37), (37, 100), (100, 101), (101, 200)]:
        metric.update_state(LABELS[start:stop], LOGITS[start:stop])
    np.testing.assert_allclose(metric.result(), CAL[key], atol=1e-5)
    np.testing.assert_allclose(metric.result(), fn(LABELS, LOGITS, from_logits=True), atol=1e-6)
    metric.reset_state()
    metric.update_state(LABELS[:50], LOGITS[:50])
    np.testing.assert_allclose(metric.result(), fn(LABELS[:50], LOGITS[:50], from_logits=True), atol=1e-6)


def test_sample_weights_count_samples_that_many_times():
    weights = np.arange(200) % 3
    repeated = np.repeat(np.arange(200), weights)
    for make, fn in (METRICS["ece"], METRICS["classwise_ece"]):
        metric = make(from_logits=True)
        metric.update_state(LABELS, LOGITS, sample_weight=weights)
        np.testing.assert_allclose(
            metric.result(), fn(LABELS[repeated], LOGITS[repeated], from_logits=True), atol=1e-5)


def test_adaptive_buffer_overflow_gives_nan_not_a_wrong_number():
    metric = kmix.metrics.AdaptiveCalibrationError(max_samples=150, from_logits=True)
    metric.update_state(LABELS[:100], LOGITS[:100])
    assert np.isfinite(metric.result())
    metric.update_state(LABELS[100:], LOGITS[100:])
    assert np.isnan(metric.result())
    metric.reset_state()
    assert float(metric.result()) == 0.0


@pytest.mark.slow
def test_through_model_evaluate_under_xla():
    images = np.random.default_rng(0).random((40, 8, 8, 3), dtype=np.float32)
    labels = np.arange(40) % 4
    model = helpers.tiny_model(kmix.layers.CutMix(num_classes=4, seed=0))
    metrics = [
        kmix.metrics.ExpectedCalibrationError(from_logits=True),
        kmix.metrics.AdaptiveCalibrationError(from_logits=True, max_samples=64),
        kmix.metrics.ClasswiseCalibrationError(num_classes=4, from_logits=True),
    ]
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), metrics=metrics, jit_compile=True)
    results = model.evaluate(images, labels, batch_size=6, return_dict=True, verbose=0)
    logits = model.predict(images, verbose=0)
    for name, fn in [("expected_calibration_error", kmix.metrics.expected_calibration_error),
                     ("adaptive_calibration_error", kmix.metrics.adaptive_calibration_error),
                     ("classwise_calibration_error", kmix.metrics.classwise_calibration_error)]:
        np.testing.assert_allclose(results[name], fn(labels, logits, from_logits=True), atol=1e-5)


def test_get_config_round_trip():
    for metric in (
        kmix.metrics.ExpectedCalibrationError(num_bins=10, from_logits=True, name="e"),
        kmix.metrics.AdaptiveCalibrationError(num_bins=7, from_logits=True, max_samples=99, name="a"),
        kmix.metrics.ClasswiseCalibrationError(num_classes=3, num_bins=5, from_logits=True, name="c"),
    ):
        config = metric.get_config()
        assert type(metric).from_config(config).get_config() == config
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
        assert type(restored) is type(metric) and restored.get_config() == config


def test_errors():
    with pytest.raises(ValueError, match=r"`num_bins` must be an int >= 1. Received: num_bins=0"):
        kmix.metrics.ExpectedCalibrationError(num_bins=0)
    with pytest.raises(ValueError, match=r"`max_samples` must be an int >= 1. Received: max_samples=0"):
        kmix.metrics.AdaptiveCalibrationError(max_samples=0)
    with pytest.raises(ValueError, match=r"`num_classes` must be an int >= 1. Received: num_classes=0"):
        kmix.metrics.ClasswiseCalibrationError(num_classes=0)
    with pytest.raises(ValueError, match=r"`y_pred` must have shape \(B, num_classes\)=\(B, 3\). Received: y_pred.shape=\(200, 10\)"):
        kmix.metrics.ClasswiseCalibrationError(num_classes=3).update_state(LABELS, LOGITS)
    with pytest.raises(ValueError, match=r"`labels` and `probabilities` must have the same batch size"):
        kmix.metrics.ExpectedCalibrationError().update_state(LABELS[:5], LOGITS)
    with pytest.raises(ValueError, match=r"AdaptiveCalibrationError does not support sample weights"):
        kmix.metrics.AdaptiveCalibrationError().update_state(LABELS, LOGITS, sample_weight=np.ones(200))


@pytest.mark.slow
def test_under_mirrored_strategy_sums_match_and_adaptive_refuses(two_cpus):
    images = np.random.default_rng(0).random((32, 8, 8, 3), dtype=np.float32)
    labels = np.arange(32) % 4
    with two_cpus.scope():
        model = helpers.tiny_model(kmix.layers.MixUp(num_classes=4, seed=1))
        model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), metrics=[
            kmix.metrics.ExpectedCalibrationError(from_logits=True),
            kmix.metrics.ClasswiseCalibrationError(num_classes=4, from_logits=True)])
    results = model.evaluate(images, labels, batch_size=8, return_dict=True, verbose=0)
    logits = model.predict(images, verbose=0)
    ece = float(kmix.metrics.expected_calibration_error(labels, logits, from_logits=True))
    cw = float(kmix.metrics.classwise_calibration_error(labels, logits, from_logits=True))
    assert abs(results["expected_calibration_error"] - ece) < 1e-5, (results, ece)
    assert abs(results["classwise_calibration_error"] - cw) < 1e-5, (results, cw)
    with two_cpus.scope():
        model.compile(loss=kmix.losses.MixupCrossentropy(),
                      metrics=[kmix.metrics.AdaptiveCalibrationError(from_logits=True)])
    with pytest.raises(ValueError, match="cannot run under a multi-replica strategy"):
        model.evaluate(images, labels, batch_size=8, verbose=0)
