"""ClasswiseCalibrationError: streaming classwise ECE."""

import keras
import tensorflow as tf

from kmix._compat import require_tensorflow_backend
from kmix._export import kmix_export
from kmix.metrics import calibration
from kmix.ops.validation import check_num_classes


@kmix_export("kmix.metrics.ClasswiseCalibrationError")
class ClasswiseCalibrationError(keras.metrics.Metric):
    """Streaming classwise calibration error (equal-width bins per class).

    Accumulates, per class and bin, the number of samples, their summed
    probability of that class and the number whose label is that class, plus
    how often each label was seen; the result over a dataset fed in batches
    equals `kmix.metrics.classwise_calibration_error` on the whole dataset (the
    mean over classes `0 .. max label seen`, as the official code).
    Memory: `(3 * num_bins + 1) * num_classes + 1` floats. Works under
    `tf.distribute` and under XLA.

    Args:
        num_classes: int >= 1, the width `K` of `y_pred`.
        num_bins: int >= 1. Defaults to `15`.
        from_logits: bool. Whether `y_pred` are logits. Defaults to `False`.
        name: optional name. Defaults to `"classwise_calibration_error"`.
        dtype: optional dtype of the result.

    Call arguments (`update_state`):
        y_true: class ids `(B,)` / `(B, 1)` or one-hot `(B, K)`.
        y_pred: probabilities (or logits) `(B, K)`.
        sample_weight: optional `(B,)` weights.

    Raises:
        ValueError: if `y_pred` is not `(B, num_classes)`.

    Example:

    ```python
    import numpy as np
    import kmix

    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]], "float32")
    metric = kmix.metrics.ClasswiseCalibrationError(num_classes=2)
    metric.update_state(np.array([0]), probabilities[:1])
    metric.update_state(np.array([1, 1]), probabilities[1:])
    print(round(float(metric.result()), 4))  # 0.4
    ```
    """

    def __init__(self, num_classes, num_bins=15, from_logits=False,
                 name="classwise_calibration_error", dtype=None):
        require_tensorflow_backend(type(self).__name__)
        num_classes = check_num_classes(num_classes)
        if num_classes is None:
            raise ValueError("`num_classes` must be an int >= 1. Received: num_classes=None")
        num_bins = calibration.check_num_bins(num_bins)
        super().__init__(name=name, dtype=dtype)
        self.num_classes = num_classes
        self.num_bins = num_bins
        self.from_logits = bool(from_logits)
        shape = (num_classes, num_bins)
        self.bin_count = self.add_variable(shape, "zeros", "float32", name="bin_count")
        self.bin_probability = self.add_variable(shape, "zeros", "float32", name="bin_probability")
        self.bin_hits = self.add_variable(shape, "zeros", "float32", name="bin_hits")
        self.label_count = self.add_variable((num_classes,), "zeros", "float32", name="label_count")
        self.total = self.add_variable((), "zeros", "float32", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        ids, probabilities = calibration.prepare(y_true, y_pred, self.from_logits)
        if probabilities.shape[-1] != self.num_classes:
            raise ValueError(
                f"`y_pred` must have shape (B, num_classes)=(B, {self.num_classes}). "
                f"Received: y_pred.shape={tuple(probabilities.shape)}"
            )
        values, hits = calibration.classwise_inputs(ids, probabilities)
        weights = tf.ones_like(values[:, 0]) if sample_weight is None else tf.reshape(
            tf.cast(sample_weight, tf.float32), [-1])
        count, prob, hit = calibration.bin_statistics(
            values, hits, calibration.uniform_edges(self.num_bins), weights)
        self.bin_count.assign_add(count)
        self.bin_probability.assign_add(prob)
        self.bin_hits.assign_add(hit)
        self.label_count.assign_add(tf.reduce_sum(hits * weights[:, None], axis=0))
        self.total.assign_add(tf.reduce_sum(weights))

    def result(self):
        per_class = calibration.error_from_statistics(
            self.bin_count, self.bin_probability, self.bin_hits, self.total)
        return calibration.mean_over_seen_classes(per_class, self.label_count)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_classes": self.num_classes,
            "num_bins": self.num_bins,
            "from_logits": self.from_logits,
        })
        return config
