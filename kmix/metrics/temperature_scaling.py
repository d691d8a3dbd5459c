"""Temperature scaling (Guo et al., 2017): one scalar that recalibrates logits."""

import math

import tensorflow as tf

from kmix.metrics.calibration import prepare
from kmix.ops.validation import check_float

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def fit_temperature(labels, logits, min_temperature=0.05, max_temperature=20.0, tolerance=1e-6):
    """Fits the temperature `T` that minimises the NLL of `softmax(logits / T)`.

    Temperature scaling (Guo et al., "On Calibration of Modern Neural
    Networks", ICML 2017) divides a trained model's logits by one scalar fitted
    on held-out data. It never changes a prediction's class (accuracy is kept)
    and only moves the confidences: `T > 1` softens an over-confident model,
    `T < 1` sharpens an under-confident one (mixup-trained models often are).
    Fit it on a validation split, never on the test data you report.

    The negative log-likelihood is convex in `1 / T`, so a golden-section
    search over `log T` within `[min_temperature, max_temperature]` finds the
    global minimum to `tolerance` (relative) without gradients or a learning
    rate; the result is deterministic. When the minimum lies at a bound (a
    validation set the model separates perfectly wants `T -> 0`), the bound is
    returned.

    Args:
        labels: class ids `(N,)` / `(N, 1)` or one-hot labels `(N, K)`.
        logits: float `(N, K)`, finite: the model's outputs before the softmax.
        min_temperature: float > 0, the smallest temperature searched.
        max_temperature: float > `min_temperature`, the largest.
        tolerance: float > 0, the relative precision of the result.

    Returns:
        The temperature, a Python float. Divide logits by it:
        `tf.nn.softmax(logits / temperature)`.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 500)
    >>> logits = 4.0 * np.eye(3)[labels] + rng.normal(size=(500, 3))
    >>> t = kmix.metrics.fit_temperature(labels, 0.5 * logits)  # under-confident
    >>> bool(t < 1.0)
    True
    >>> before = kmix.metrics.expected_calibration_error(labels, 0.5 * logits, from_logits=True)
    >>> after = kmix.metrics.expected_calibration_error(labels, 0.5 * logits / t, from_logits=True)
    >>> bool(after < before)
    True
    """
    min_temperature = check_float(min_temperature, "min_temperature", minimum=0.0, min_inclusive=False)
    max_temperature = check_float(max_temperature, "max_temperature")
    if not max_temperature > min_temperature:
        raise ValueError(
            "`max_temperature` must be greater than `min_temperature`. Received: "
            f"min_temperature={min_temperature}, max_temperature={max_temperature}"
        )
    tolerance = check_float(tolerance, "tolerance", minimum=0.0, min_inclusive=False)
    if not tf.is_tensor(logits) or not logits.dtype.is_floating:
        logits = tf.convert_to_tensor(logits, tf.float32)
    try:
        ids, _ = prepare(labels, logits)
    except ValueError as error:  # the shared checks call the scores `probabilities`
        raise ValueError(str(error).replace("probabilities", "logits")) from None
    logits = tf.cast(logits, tf.float64)
    if not bool(tf.reduce_all(tf.math.is_finite(logits))):
        raise ValueError("`logits` must be finite. Received: logits with NaN or infinite values")
    num_classes = logits.shape[-1]
    if not bool(tf.reduce_all((ids >= 0) & (ids < num_classes))):
        raise ValueError(
            f"`labels` must be class ids in [0, {num_classes}) for logits of shape "
            f"{tuple(logits.shape)}. Received: ids from {int(tf.reduce_min(ids))} to "
            f"{int(tf.reduce_max(ids))}"
        )
    true_logit = tf.gather(logits, ids, axis=1, batch_dims=1)

    def nll(log_t):
        scale = math.exp(-log_t)
        return float(tf.reduce_mean(tf.reduce_logsumexp(logits * scale, axis=-1) - true_logit * scale))

    lo, hi = math.log(min_temperature), math.log(max_temperature)
    a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    fa, fb = nll(a), nll(b)
    while hi - lo > tolerance:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - _GOLDEN * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + _GOLDEN * (hi - lo)
            fb = nll(b)
    best = min((nll(lo), lo), (fa, a), (fb, b), (nll(hi), hi))[1]
    return math.exp(best)
