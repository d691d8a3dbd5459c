"""kmix.metrics.fit_temperature: the NLL-minimising temperature, checked against scipy."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

import kmix


def _nll(labels, logits, temperature):
    z = logits / temperature
    return float(np.mean(logsumexp(z, axis=1) - z[np.arange(len(labels)), labels]))


def _case(seed, n=300, k=5, scale=1.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = scale * (3.0 * np.eye(k)[labels] + rng.normal(size=(n, k)) * 1.5)
    return labels, logits.astype("float32")


@pytest.mark.parametrize("seed,scale", [(0, 0.3), (1, 1.0), (2, 4.0)])
def test_matches_scipy_minimum_of_the_nll(seed, scale):
    labels, logits = _case(seed, scale=scale)
    t = kmix.metrics.fit_temperature(labels, logits)
    reference = minimize_scalar(
        lambda log_t: _nll(labels, logits.astype(np.float64), np.exp(log_t)),
        bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-10},
    )
    assert t == pytest.approx(np.exp(reference.x), rel=1e-4)
    # Logits scaled by s want a temperature s times larger.
    unscaled = kmix.metrics.fit_temperature(labels, logits / scale)
    assert t == pytest.approx(scale * unscaled, rel=1e-4)


def test_scaling_never_raises_the_validation_nll_and_keeps_the_argmax():
    labels, logits = _case(3, scale=0.25)
    t = kmix.metrics.fit_temperature(labels, logits)
    assert _nll(labels, logits, t) <= _nll(labels, logits, 1.0)
    assert np.array_equal(np.argmax(logits / t, 1), np.argmax(logits, 1))


def test_one_hot_labels_and_numpy_arguments_give_the_same_temperature():
    labels, logits = _case(4)
    t_ids = kmix.metrics.fit_temperature(labels, logits)
    t_onehot = kmix.metrics.fit_temperature(np.eye(5)[labels], logits,
                                            min_temperature=np.float32(0.05),
                                            max_temperature=np.int64(20))
    assert t_ids == pytest.approx(t_onehot, rel=1e-5)


def test_a_separable_set_returns_the_lower_bound():
    labels = np.arange(6) % 3
    logits = 5.0 * np.eye(3)[labels]
    assert kmix.metrics.fit_temperature(labels, logits, min_temperature=0.1) == pytest.approx(0.1, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(min_temperature=0.0), ValueError, r"`min_temperature` must be a float > 0"),
        (dict(min_temperature=2.0, max_temperature=1.0), ValueError,
         r"`max_temperature` must be greater than `min_temperature`. Received: min_temperature=2.0"),
        (dict(tolerance=float("nan")), ValueError, r"`tolerance`"),
        (dict(max_temperature="big"), TypeError, r"`max_temperature` must be a float"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    labels, logits = _case(5, n=20)
    with pytest.raises(error, match=match):
        kmix.metrics.fit_temperature(labels, logits, **kwargs)


def test_bad_inputs_are_refused_by_name():
    labels, logits = _case(6, n=20)
    bad = logits.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"`logits` must be finite"):
        kmix.metrics.fit_temperature(labels, bad)
    with pytest.raises(ValueError, match=r"`labels` must be class ids in \[0, 5\)"):
        kmix.metrics.fit_temperature(labels + 5, logits)
    with pytest.raises(ValueError, match=r"`logits` must have shape \(B, K\)"):
        kmix.metrics.fit_temperature(labels, logits[:, 0])
    with pytest.raises(ValueError, match=r"whole numbers|class ids"):
        kmix.metrics.fit_temperature(labels + 0.5, logits)
