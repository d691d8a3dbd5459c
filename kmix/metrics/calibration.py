"""Calibration errors (ECE, adaptive ECE, classwise ECE) as pure functions.

Bins and membership follow RankMixup's evaluation code
(`calibrate/evaluation/metrics.py`): a sample falls in bin `(lo, hi]`, a bin
contributes `|mean confidence - accuracy| * n_bin / N`, and the values are
fractions (papers print them x100). The streaming Keras metrics in this package
share the per-bin statistics below, so that they give the same numbers.
"""

import tensorflow as tf

from kmix.ops.validation import check_int
from kmix.ops.validation import float_class_ids


def _shape_str(x):
    return str(tuple(x.shape.as_list())) if x.shape.rank is not None else "<unknown>"


def check_num_bins(num_bins):
    """Returns `num_bins` as a Python int, raising unless it is an int >= 1."""
    return check_int(num_bins, "num_bins", minimum=1)


def prepare(labels, probabilities, from_logits=False):
    """Checks the inputs; returns class ids int32 `(B,)` and probabilities float32 `(B, K)`."""
    probabilities = tf.convert_to_tensor(probabilities)
    if probabilities.shape.rank != 2:
        raise ValueError(
            "`probabilities` must have shape (B, K). "
            f"Received: probabilities.shape={_shape_str(probabilities)}"
        )
    labels = tf.convert_to_tensor(labels)
    num_classes = probabilities.shape[-1]
    rank = labels.shape.rank
    if rank == 2 and labels.shape[-1] not in (1, num_classes):
        rank = None  # neither ids (B, 1) nor one-hot (B, K)
    if rank not in (1, 2):
        raise ValueError(
            "`labels` must be class ids (B,) / (B, 1) or one-hot labels (B, K) matching "
            f"`probabilities`. Received: labels.shape={_shape_str(labels)} and "
            f"probabilities.shape={_shape_str(probabilities)}"
        )
    b1, b2 = labels.shape[0], probabilities.shape[0]
    if b1 is not None and b2 is not None and b1 != b2:
        raise ValueError(
            "`labels` and `probabilities` must have the same batch size. Received: "
            f"labels.shape={_shape_str(labels)} and probabilities.shape={_shape_str(probabilities)}"
        )
    integral = None
    if rank == 2 and labels.shape[-1] == num_classes and num_classes != 1:
        ids = tf.argmax(labels, axis=-1, output_type=tf.int32)
    else:
        ids = tf.reshape(labels, [-1])
        if not ids.dtype.is_integer:
            # Whole numbers only (0.3 is refused, never rounded to an id).
            ids, integral = float_class_ids(ids, labels)
        ids = tf.cast(ids, tf.int32)
    probabilities = tf.cast(probabilities, tf.float32)
    if from_logits:
        probabilities = tf.nn.softmax(probabilities, axis=-1)
    if integral is not None:
        # Under XLA (no assertions) a row with a bad id makes the error NaN.
        probabilities = tf.where(integral[:, None], probabilities, float("nan"))
    return ids, probabilities


def uniform_edges(num_bins):
    """`linspace(0, 1, num_bins + 1)` float32, as `torch.linspace` in the official code."""
    return tf.linspace(tf.constant(0.0, tf.float32), 1.0, num_bins + 1)


def bin_statistics(confidences, hits, edges, weights=None):
    """Per-bin `(count, sum of confidences, sum of hits)`, each `(..., num_bins)`.

    Args:
        confidences: float `(B,)` or `(B, C)` (one column per binned quantity).
        hits: float, same shape: 1 where the prediction counts as correct.
        edges: float `(num_bins + 1,)`, ascending. Membership is `lo < x <= hi`;
            samples outside `(edges[0], edges[-1]]` fall in no bin.
        weights: optional float `(B,)` sample weights (invalid rows get 0).

    Returns:
        Three float32 tensors of shape `(num_bins,)` (or `(C, num_bins)`).
    """
    num_bins = edges.shape[0] - 1
    x = tf.cast(confidences, edges.dtype)
    inside = (x > edges[0]) & (x <= edges[-1])
    index = tf.reduce_sum(tf.cast(x[..., None] > edges[1:-1], tf.int32), axis=-1)
    one_hot = tf.one_hot(index, num_bins, dtype=tf.float32) * tf.cast(inside, tf.float32)[..., None]
    if weights is not None:
        weights = tf.reshape(tf.cast(weights, tf.float32), [-1] + [1] * (one_hot.shape.rank - 1))
        one_hot = one_hot * weights
    count = tf.reduce_sum(one_hot, axis=0)
    sum_conf = tf.reduce_sum(one_hot * tf.cast(confidences, tf.float32)[..., None], axis=0)
    sum_hit = tf.reduce_sum(one_hot * tf.cast(hits, tf.float32)[..., None], axis=0)
    return count, sum_conf, sum_hit


def error_from_statistics(count, sum_conf, sum_hit, total):
    """`sum_b |conf_b - acc_b| * n_b / N` over non-empty bins (last axis)."""
    safe = tf.maximum(count, 1.0)
    gap = tf.abs(sum_conf / safe - sum_hit / safe) * count
    gap = tf.where(count > 0, gap, tf.zeros_like(gap))
    total = tf.cast(total, tf.float32)
    return tf.reduce_sum(gap, axis=-1) / tf.maximum(total, 1.0)


def equal_mass_edges(sorted_confidences, size, num_bins):
    """`np.interp(linspace(0, N, num_bins + 1), arange(N), sorted)` in float64.

    Args:
        sorted_confidences: float `(capacity,)` whose first `size` entries are
            the sorted confidences (the rest is ignored).
        size: int scalar tensor `N >= 1`.
        num_bins: int.
    """
    values = tf.cast(sorted_confidences, tf.float64)
    n = tf.cast(size, tf.float64)
    # `np.linspace(0, N, num_bins + 1)` exactly as numpy computes it: `i * (N /
    # num_bins)` with the last point set to `N`. (Scaling `linspace(0, 1)` by
    # `N` instead puts an edge one ulp above a sample, e.g. 3/7 * 7, and moves
    # that sample to the next bin.)
    steps = tf.range(num_bins + 1, dtype=tf.float64) * (n / num_bins)
    positions = tf.concat([steps[:-1], n[None]], axis=0)
    positions = tf.clip_by_value(positions, 0.0, n - 1.0)  # np.interp clamps at the ends
    lower = tf.floor(positions)
    frac = positions - lower
    lower_i = tf.cast(lower, tf.int32)
    upper_i = tf.minimum(lower_i + 1, tf.cast(size, tf.int32) - 1)
    low, high = tf.gather(values, lower_i), tf.gather(values, upper_i)
    return low + frac * (high - low)


def adaptive_error(confidences, hits, size, num_bins):
    """AdaECE over the first `size` entries of `confidences`/`hits` `(capacity,)`."""
    capacity = confidences.shape[0]
    valid = tf.range(capacity) < size
    padded = tf.where(valid, tf.cast(confidences, tf.float32), 2.0)
    order = tf.argsort(padded, stable=True)
    sorted_conf = tf.gather(padded, order)
    edges = equal_mass_edges(sorted_conf, tf.maximum(size, 1), num_bins)
    weights = tf.cast(valid, tf.float32)
    count, sum_conf, sum_hit = bin_statistics(confidences, hits, edges, weights)
    error = error_from_statistics(count, sum_conf, sum_hit, size)
    return tf.where(size > 0, error, 0.0)


def classwise_inputs(ids, probabilities):
    """Per-class binned quantity `p_k` and hit `1[label == k]`, both `(B, K)`."""
    num_classes = probabilities.shape[-1]
    return probabilities, tf.one_hot(ids, num_classes, dtype=tf.float32)


def expected_calibration_error(labels, probabilities, num_bins=15, from_logits=False):
    """Expected calibration error (ECE) with equal-width bins.

    `ECE = sum_b |mean confidence_b - accuracy_b| * n_b / N`, where the
    confidence is the largest probability, a sample is correct when its arg-max
    is its label, and bin `b` holds the samples with `lo_b < confidence <= hi_b`
    for the edges `linspace(0, 1, num_bins + 1)` (RankMixup's `ECELoss`).

    Args:
        labels: class ids `(B,)` / `(B, 1)`, or one-hot labels `(B, K)`.
        probabilities: float `(B, K)`, predicted probabilities (or logits with
            `from_logits=True`).
        num_bins: int >= 1. Defaults to `15`.
        from_logits: bool. Apply a softmax first. Defaults to `False`.

    Returns:
        float32 scalar, a fraction in [0, 1].

    Raises:
        ValueError: if `probabilities` is not `(B, K)`, or `labels` does not
            match it.

    Example:

    ```python
    import numpy as np
    import kmix

    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]], "float32")
    ece = kmix.metrics.expected_calibration_error(np.array([0, 1, 1]), probabilities)
    print(round(float(ece), 4))  # 0.4
    ```

    References:
        - [Naeini et al., 2015](https://ojs.aaai.org/index.php/AAAI/article/view/9602)
        - cvlab-yonsei/RankMixup, `calibrate/evaluation/metrics.py`.
    """
    num_bins = check_num_bins(num_bins)
    ids, probabilities = prepare(labels, probabilities, from_logits)
    confidences = tf.reduce_max(probabilities, axis=-1)
    hits = tf.cast(tf.argmax(probabilities, axis=-1, output_type=tf.int32) == ids, tf.float32)
    count, sum_conf, sum_hit = bin_statistics(confidences, hits, uniform_edges(num_bins))
    return error_from_statistics(count, sum_conf, sum_hit, tf.shape(ids)[0])


def adaptive_calibration_error(labels, probabilities, num_bins=15, from_logits=False):
    """Adaptive calibration error (AdaECE) with equal-mass bins.

    As `expected_calibration_error`, with `num_bins` edges placed so that the
    bins hold about the same number of samples:
    `edges = np.interp(linspace(0, N, num_bins + 1), arange(N), sort(confidence))`
    (RankMixup's `AdaptiveECELoss`). As in the official code the sample(s) with
    the smallest confidence equal the first edge and fall in no bin (they still
    count in `N`).

    Args:
        labels: class ids `(B,)` / `(B, 1)`, or one-hot labels `(B, K)`.
        probabilities: float `(B, K)` (or logits with `from_logits=True`).
        num_bins: int >= 1. Defaults to `15`.
        from_logits: bool. Defaults to `False`.

    Returns:
        float32 scalar.

    Raises:
        ValueError: if `probabilities` is not `(B, K)` with a static batch
            size, or `labels` does not match it.

    Example:

    ```python
    import numpy as np
    import kmix

    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], "float32")
    ada = kmix.metrics.adaptive_calibration_error(np.array([0, 1, 1, 0]), probabilities, num_bins=2)
    print(round(float(ada), 4))  # 0.15
    ```

    References:
        - [Nguyen & O'Connor, 2015](https://arxiv.org/abs/1508.05154);
          [Mukhoti et al., 2020](https://arxiv.org/abs/2002.09437)
    """
    num_bins = check_num_bins(num_bins)
    ids, probabilities = prepare(labels, probabilities, from_logits)
    if probabilities.shape[0] is None:
        raise ValueError(
            "`probabilities` must have a static batch size for the adaptive "
            f"bins. Received: probabilities.shape={_shape_str(probabilities)}"
        )
    confidences = tf.reduce_max(probabilities, axis=-1)
    hits = tf.cast(tf.argmax(probabilities, axis=-1, output_type=tf.int32) == ids, tf.float32)
    return adaptive_error(confidences, hits, tf.shape(ids)[0], num_bins)


def classwise_calibration_error(labels, probabilities, num_bins=15, from_logits=False):
    """Classwise calibration error: the mean over classes of a per-class ECE.

    For each class `k` in `0 .. max(labels)`, the probabilities `p_k` of ALL
    samples are put in equal-width bins; a bin contributes
    `|mean p_k - frequency of label k| * n_b / N`. The result is the mean over
    those classes (RankMixup's `ClasswiseECELoss`, which stops at the largest
    label present).

    Args:
        labels: class ids `(B,)` / `(B, 1)`, or one-hot labels `(B, K)`.
        probabilities: float `(B, K)` (or logits with `from_logits=True`).
        num_bins: int >= 1. Defaults to `15`.
        from_logits: bool. Defaults to `False`.

    Returns:
        float32 scalar.

    Raises:
        ValueError: if `probabilities` is not `(B, K)`, or `labels` does not
            match it.

    Example:

    ```python
    import numpy as np
    import kmix

    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]], "float32")
    cw = kmix.metrics.classwise_calibration_error(np.array([0, 1, 1]), probabilities)
    print(round(float(cw), 4))  # 0.4
    ```

    References:
        - [Kull et al., 2019](https://arxiv.org/abs/1910.12656)
    """
    num_bins = check_num_bins(num_bins)
    ids, probabilities = prepare(labels, probabilities, from_logits)
    values, hits = classwise_inputs(ids, probabilities)
    count, sum_conf, sum_hit = bin_statistics(values, hits, uniform_edges(num_bins))
    per_class = error_from_statistics(count, sum_conf, sum_hit, tf.shape(ids)[0])
    return mean_over_seen_classes(per_class, tf.reduce_sum(hits, axis=0))


def mean_over_seen_classes(per_class, label_counts):
    """Mean of `per_class` `(K,)` over classes `0 .. max label seen`."""
    num_classes = per_class.shape[0]
    seen = label_counts > 0
    last = tf.reduce_max(tf.where(seen, tf.range(num_classes), -1))
    used = tf.range(num_classes) <= last
    total = tf.reduce_sum(tf.where(used, per_class, 0.0))
    return total / tf.maximum(tf.cast(last + 1, tf.float32), 1.0)


__all__ = [
    "adaptive_calibration_error",
    "classwise_calibration_error",
    "expected_calibration_error",
]
