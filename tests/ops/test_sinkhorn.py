"""kmix.ops.sinkhorn: the official AlignMix Sinkhorn and aligned mix (alignmix.json)."""

import importlib.util

import numpy as np
import pytest
import tensorflow as tf

from kmix.ops.sinkhorn import align_mix
from kmix.ops.sinkhorn import sinkhorn_plan
from tests.vectors import VECTORS
from tests.vectors import array
from tests.vectors import load

DATA = load("alignmix")
CASES = DATA["cases"]


def _numpy_ref():
    spec = importlib.util.spec_from_file_location("alignmix_numpy_ref", VECTORS / "alignmix_numpy_ref.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _numpy_ref()

# One graph for every case (shapes unknown): an eager Sinkhorn loop runs op by op.
_ANY3 = tf.TensorSpec([None, None, None], tf.float32)
_ANY4 = tf.TensorSpec([None, None, None, None], tf.float32)
_plan_and_count = tf.function(
    lambda x, y: sinkhorn_plan(x, y, return_iterations=True), input_signature=[_ANY3, _ANY3],
    autograph=False,
)


def _mixer(data_format):
    return tf.function(
        lambda f, p, lam, d: align_mix(f, p, lam, d, data_format=data_format),
        input_signature=[_ANY4, _ANY4, tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int32)],
        autograph=False,
    )


_mix_channels_first = _mixer("channels_first")
_mix_channels_last = _mixer("channels_last")


def _points(case):
    """The official (B, HW, C) point sets of a case: F1 and F2 = F1[permutation]."""
    features = array(case["features"], np.float32)
    b, c, h, w = features.shape
    own = features.reshape(b, c, h * w).transpose(0, 2, 1)
    return features, own, own[np.asarray(case["permutation"])]


def test_the_json_covers_early_stops_and_full_runs_and_the_numpy_ref_reproduces_it():
    iterations = [case["iterations"] for case in CASES]
    assert min(iterations) < 10 and 10 < sorted(iterations)[2] < 100 and max(iterations) == 100
    assert REF.main()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_plan_and_iterations_equal_the_official_sinkhorn(case):
    _, own, partner = _points(case)
    hw = own.shape[1]
    assert (DATA["eps"], DATA["max_iter"], DATA["threshold"]) == (0.1, 100, 0.1)  # the defaults
    plan, iterations = _plan_and_count(own, partner)
    assert int(iterations) == case["iterations"]
    # The assignment matrix P * HW, as the official mixup_aligned uses it.
    np.testing.assert_allclose(plan.numpy() * hw, array(case["plan"]) * hw, atol=5e-5)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_mixed_maps_equal_the_official_mixup_aligned_given_its_draws(case):
    features, _, _ = _points(case)
    partner = features[np.asarray(case["permutation"])]
    nhwc = features.transpose(0, 2, 3, 1)
    for direction in (0, 1):
        expected = array(case[f"mixed_direction{direction}"])
        lam = np.full([features.shape[0]], case["lam"], np.float32)
        official_layout = _mix_channels_first(features, partner, lam, direction)
        np.testing.assert_allclose(official_layout.numpy(), expected, atol=1e-4)
        mixed = _mix_channels_last(nhwc, nhwc[np.asarray(case["permutation"])], lam, direction)
        np.testing.assert_allclose(mixed.numpy().transpose(0, 3, 1, 2), expected, atol=1e-4)


def test_updates_freeze_once_the_official_test_holds():
    # More iterations allowed change nothing once the loop has stopped; fewer
    # than the official count cut it short.
    case = next(c for c in CASES if 10 < c["iterations"] < 100)
    _, own, partner = _points(case)
    stopped = sinkhorn_plan(own, partner, max_iter=case["iterations"]).numpy()
    longer, count = sinkhorn_plan(own, partner, max_iter=case["iterations"] + 7,
                                  return_iterations=True)
    np.testing.assert_array_equal(longer.numpy(), stopped)
    assert int(count) == case["iterations"]
    short, count = sinkhorn_plan(own, partner, max_iter=case["iterations"] - 3,
                                 return_iterations=True)
    assert int(count) == case["iterations"] - 3
    assert not np.allclose(short.numpy(), stopped, atol=1e-6)


def test_per_row_lam_mixed_precision_and_gradient_through_the_maps_only():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(3, 2, 3, 4)).astype(np.float32)
    index = np.array([2, 0, 1])
    lam = np.array([0.2, 0.5, 0.9], np.float32)
    expected = REF.align_mix(features.transpose(0, 3, 1, 2), index, lam[:, None, None], 1)
    mixed = _mix_channels_last(features, features[index], lam, 1)
    np.testing.assert_allclose(mixed.numpy(), expected.transpose(0, 2, 3, 1), atol=1e-5)

    @tf.function(autograph=False)
    def half_and_gradient(x):
        half = align_mix(tf.cast(x, tf.float16), tf.cast(tf.gather(x, index), tf.float16), lam, 1)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(align_mix(x, tf.gather(x, index), lam, 0))
        return half, tape.gradient(total, x)

    half, grad = half_and_gradient(tf.constant(features))
    assert half.dtype == tf.float16
    np.testing.assert_allclose(half.numpy(), mixed.numpy(), atol=2e-2)
    # The plan is a constant (the official .detach()): the gradient of
    # sum(lam F1 + (1 - lam) P F2), F2 = F1[index], has (1 - lam) times P's column sums.
    hw = 6
    flat = features.reshape(3, hw, 4)
    plan = REF.sinkhorn(flat, flat[index])[0] * hw
    expected_grad = np.broadcast_to(lam[:, None, None], (3, hw, 4)).copy()
    for b in range(3):
        expected_grad[index[b]] += (1 - lam[b]) * plan[b].sum(axis=0)[:, None]
    np.testing.assert_allclose(grad.numpy().reshape(3, hw, 4), expected_grad, rtol=1e-4, atol=1e-4)


def test_errors():
    x = np.zeros((2, 4, 3), np.float32)
    with pytest.raises(ValueError, match=r"`x` must be point sets of rank 3 \(B, N, D\). Received: x.shape=\(2, 4\)"):
        sinkhorn_plan(x[..., 0], x)
    with pytest.raises(ValueError, match=r"same dimension D. Received: x.shape=\(2, 4, 3\) and y.shape=\(2, 4, 2\)"):
        sinkhorn_plan(x, x[..., :2])
    with pytest.raises(ValueError, match=r"same batch size"):
        sinkhorn_plan(x, x[:1])
    with pytest.raises(ValueError, match=r"`eps` must be a float > 0. Received: eps=0"):
        sinkhorn_plan(x, x, eps=0)
    with pytest.raises(ValueError, match=r"`max_iter` must be an int >= 1. Received: max_iter=0"):
        sinkhorn_plan(x, x, max_iter=0)
    maps = np.zeros((2, 2, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"`features` must be feature maps of rank 4 \(B, H, W, C\). Received: features.shape=\(2, 4, 3\)"):
        align_mix(x, x, 0.5, 0)
    with pytest.raises(ValueError, match=r"`partner_features` must have the shape of `features`"):
        align_mix(maps, maps[:, :1], 0.5, 0)
    with pytest.raises(ValueError, match=r"`direction` must be 0 or 1. Received: direction=2"):
        align_mix(maps, maps, 0.5, 2)
    with pytest.raises(ValueError, match=r"`data_format` must be 'channels_last' or 'channels_first'"):
        align_mix(maps, maps, 0.5, 0, data_format="nhwc")
