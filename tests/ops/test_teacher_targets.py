"""kmix.ops.teacher_targets: TokenMix's teacher-map targets against the official run (tokenmix.json)."""

import importlib.util

import numpy as np
import pytest

from kmix.ops.teacher_targets import tokenmix_scores
from kmix.ops.teacher_targets import tokenmix_targets
from tests.vectors import VECTORS
from tests.vectors import array
from tests.vectors import load


def _numpy_ref():
    spec = importlib.util.spec_from_file_location("tokenmix_numpy_ref", VECTORS / "tokenmix_numpy_ref.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _numpy_ref()
DATA = load("tokenmix")


def _case_inputs(case):
    inputs, outputs = case["inputs"], case["outputs"]
    k = inputs["num_classes"]
    dense = REF.dense_maps_from_topk(array(inputs["label_maps_topk"]), k)  # (B, K, G, G)
    maps = dense.transpose(0, 2, 3, 1).astype(np.float32)  # (B, G, G, K)
    labels = np.asarray(inputs["hard_labels"])
    mask_b = array(outputs["token_mask_b"], np.float32)
    batch = len(labels)
    return maps, labels, mask_b, batch, k, inputs["label_smoothing"]


# ----------------------------------------------------------------------
# Targets against the official run (given the recorded mask)
# ----------------------------------------------------------------------
@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_faithful_targets_match_the_official_call(case):
    maps, labels, mask_b, batch, k, smoothing = _case_inputs(case)
    index = np.arange(batch)[::-1].copy()
    masks = np.broadcast_to(mask_b, (batch,) + mask_b.shape)
    got = tokenmix_targets(maps, labels, index, masks, num_classes=k,
                           label_smoothing=smoothing, faithful=True).numpy()
    np.testing.assert_allclose(got, array(case["outputs"]["target"]), atol=1e-6)
    # Rows sum to s_a + s_b, not 1 (the official target is unnormalised).
    s_own, s_partner = tokenmix_scores(maps, labels, index, masks, k)
    np.testing.assert_allclose(got.sum(-1), (s_own + s_partner).numpy(), atol=1e-6)
    assert np.abs(got.sum(-1) - 1).max() > 1e-3


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_normalised_targets_weight_the_two_smoothed_labels_by_the_scores(case):
    maps, labels, mask_b, batch, k, smoothing = _case_inputs(case)
    index = np.arange(batch)[::-1].copy()
    masks = np.broadcast_to(mask_b, (batch,) + mask_b.shape)
    gt = maps.transpose(0, 3, 1, 2)[np.arange(batch), labels]
    _, s_a, s_b = REF.tokenmix_target(gt.astype(np.float64), labels, mask_b, k, smoothing)
    lam = s_a / (s_a + s_b)
    y = np.full((batch, k), smoothing / k)
    y[np.arange(batch), labels] += 1 - smoothing
    expected = lam[:, None] * y + (1 - lam[:, None]) * y[index]
    got = tokenmix_targets(maps, labels, index, masks, num_classes=k, label_smoothing=smoothing).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-6)


def test_targets_accept_one_hot_labels_and_fall_back_when_the_teacher_is_silent():
    maps = np.zeros((2, 2, 2, 3), np.float32)
    masks = np.zeros((2, 2, 2), np.float32)
    masks[:, 1] = 1
    got = tokenmix_targets(maps, np.eye(3, dtype=np.float32)[[0, 2]], [1, 0], masks,
                           fallback_lam=np.array([0.25, 0.75], np.float32)).numpy()
    np.testing.assert_allclose(got, [[0.25, 0, 0.75], [0.25, 0, 0.75]], atol=1e-7)
