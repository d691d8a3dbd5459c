"""Calibration functions against RankMixup's official metrics (rankmixup.json)."""

import importlib.util

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import kmix
from tests.hypothesis_profiles import examples
from tests import vectors

CAL = vectors.load("rankmixup")["calibration"]
LOGITS = np.array(CAL["logits"], np.float32)
LABELS = np.array(CAL["labels"])
_spec = importlib.util.spec_from_file_location("rankmixup_numpy_ref", vectors.VECTORS / "rankmixup_numpy_ref.py")
REF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REF)

FUNCTIONS = {
    "ece": (kmix.metrics.expected_calibration_error, REF.ece),
    "adaece": (kmix.metrics.adaptive_calibration_error, REF.adaptive_ece),
    "classwise_ece": (kmix.metrics.classwise_calibration_error, REF.classwise_ece),
}


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("key", list(FUNCTIONS))
def test_matches_the_official_metrics(key):
    fn, _ = FUNCTIONS[key]
    assert CAL["n_bins"] == 15
    np.testing.assert_allclose(fn(LABELS, LOGITS, from_logits=True), CAL[key], atol=1e-6)
    np.testing.assert_allclose(fn(LABELS, softmax(LOGITS)), CAL[key], atol=1e-6)
    one_hot = np.eye(10, dtype=np.float32)[LABELS]
    np.testing.assert_allclose(fn(one_hot, softmax(LOGITS)), CAL[key], atol=1e-6)
    np.testing.assert_allclose(fn(LABELS[:, None], softmax(LOGITS)), CAL[key], atol=1e-6)


@settings(max_examples=examples(25))
@given(
    n=st.integers(1, 40), k=st.integers(2, 6), bins=st.integers(1, 20),
    scale=st.floats(0.1, 8.0), seed=st.integers(0, 10_000),
)
def test_agrees_with_the_numpy_reference_on_random_inputs(n, k, bins, scale, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(n, k)) * scale).astype(np.float32)
    labels = rng.integers(0, k, n)
    for key, (fn, ref) in FUNCTIONS.items():
        got = float(fn(labels, logits, num_bins=bins, from_logits=True))
        want = ref(logits.astype(np.float64), labels, bins)
        assert abs(got - want) < 2e-5, (key, got, want)


def test_adaptive_edges_at_whole_sample_positions_regression():
    # n=7, bins=7 (hypothesis found it): the official edges are
    # np.interp(np.linspace(0, N, bins + 1), ...), so every inner edge is a
    # sample's own confidence. Scaling linspace(0, 1) by N put the edge at 3/7*7
    # one ulp above the sample and moved it to the next bin (off by 0.047).
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(7, 2)).astype(np.float32)
    labels = rng.integers(0, 2, 7)
    want = REF.adaptive_ece(logits.astype(np.float64), labels, 7)
    got = float(kmix.metrics.adaptive_calibration_error(labels, logits, num_bins=7, from_logits=True))
    assert abs(want - 0.4553337649549251) < 1e-9
    np.testing.assert_allclose(got, want, atol=2e-6)
    metric = kmix.metrics.AdaptiveCalibrationError(num_bins=7, from_logits=True, max_samples=16)
    metric.update_state(labels[:3], logits[:3])
    metric.update_state(labels[3:], logits[3:])
    np.testing.assert_allclose(float(metric.result()), want, atol=2e-6)


def test_adaptive_excludes_the_least_confident_sample_as_upstream():
    probabilities = np.array([[0.5, 0.5], [0.9, 0.1]], np.float32)
    # The 0.5 sample equals the first edge and is in no bin; N still counts it.
    got = float(kmix.metrics.adaptive_calibration_error(np.array([1, 0]), probabilities, num_bins=1))
    np.testing.assert_allclose(got, abs(0.9 - 1.0) / 2, atol=1e-6)


def test_classwise_stops_at_the_largest_label():
    probabilities = softmax(LOGITS)
    mask = LABELS < 6
    got = float(kmix.metrics.classwise_calibration_error(LABELS[mask], probabilities[mask]))
    np.testing.assert_allclose(got, REF.classwise_ece(LOGITS[mask], LABELS[mask]), atol=1e-6)


@pytest.mark.parametrize("fn", [f for f, _ in FUNCTIONS.values()], ids=list(FUNCTIONS))
def test_errors(fn):
    with pytest.raises(ValueError, match=r"`probabilities` must have shape \(B, K\). Received: probabilities.shape=\(4,\)"):
        fn(np.zeros(4, int), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"`labels` and `probabilities` must have the same batch size. Received: labels.shape=\(3,\) and probabilities.shape=\(4, 2\)"):
        fn(np.zeros(3, int), np.full((4, 2), 0.5, np.float32))
    with pytest.raises(ValueError, match=r"`labels` must be class ids \(B,\) / \(B, 1\) or one-hot labels \(B, K\) matching `probabilities`. Received: labels.shape=\(4, 3\) and probabilities.shape=\(4, 2\)"):
        fn(np.zeros((4, 3), np.float32), np.full((4, 2), 0.5, np.float32))
    with pytest.raises(ValueError, match=r"`num_bins` must be an int >= 1. Received: num_bins=0"):
        fn(np.zeros(4, int), np.full((4, 2), 0.5, np.float32), num_bins=0)


@pytest.mark.parametrize("fn", [f for f, _ in FUNCTIONS.values()], ids=list(FUNCTIONS))
def test_float_class_ids_must_be_whole_numbers(fn):
    probabilities = softmax(LOGITS[:6])
    ids = LABELS[:6]
    np.testing.assert_allclose(fn(ids.astype(np.float32), probabilities), fn(ids, probabilities), atol=1e-7)
    bad = ids.astype(np.float32) + np.array([0, 0.3, 0, 0, 0, 0], np.float32)
    with pytest.raises(ValueError, match=r"Float `labels` of shape \(B,\) or \(B, 1\) are read as class ids and must hold whole numbers.*Received: labels.shape=\(6,\) with dtype=float32 and values that are not whole numbers, such as \d+\.3"):
        fn(bad, probabilities)
    metric = kmix.metrics.ExpectedCalibrationError()
    with pytest.raises(Exception, match=r"read as class ids and must hold whole numbers"):
        tf.function(metric.update_state)(tf.constant(bad), tf.constant(probabilities))
