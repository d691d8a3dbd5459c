"""ExpectedCalibrationError: streaming ECE."""

import keras
import tensorflow as tf

from kmix._compat import require_tensorflow_backend
from kmix._export import kmix_export
from kmix.metrics import calibration


@kmix_export("kmix.metrics.ExpectedCalibrationError")
class ExpectedCalibrationError(keras.metrics.Metric):
    """Streaming expected calibration error (equal-width bins).

    Accumulates, per bin, the number of samples, their summed confidence and
    their summed correctness, so that the result over a dataset fed in batches
    equals `kmix.metrics.expected_calibration_error` on the whole dataset.
    Memory: `3 * num_bins + 1` floats. Works under `tf.distribute` (per-bin
    sums add up across replicas) and under XLA.

    Args:
        num_bins: int >= 1. Defaults to `15`.
        from_logits: bool. Whether `y_pred` are logits. Defaults to `False`.
        name: optional name. Defaults to `"expected_calibration_error"`.
        dtype: optional dtype of the result.

    Call arguments (`update_state`):
        y_true: class ids `(B,)` / `(B, 1)` or one-hot `(B, K)`.
        y_pred: probabilities (or logits) `(B, K)`.
        sample_weight: optional `(B,)` weights (a sample of weight `w` counts
            `w` times).

    Example:

    ```python
    import numpy as np
    import kmix

    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]], "float32")
    metric = kmix.metrics.ExpectedCalibrationError()
    metric.update_state(np.array([0, 1]), probabilities[:2])
    metric.update_state(np.array([1]), probabilities[2:])
    print(round(float(metric.result()), 4))  # 0.4
    ```
    """

    def __init__(self, num_bins=15, from_logits=False, name="expected_calibration_error", dtype=None):
        require_tensorflow_backend(type(self).__name__)
        num_bins = calibration.check_num_bins(num_bins)
        super().__init__(name=name, dtype=dtype)
        self.num_bins = num_bins
        self.from_logits = bool(from_logits)
        self.bin_count = self.add_variable((num_bins,), "zeros", "float32", name="bin_count")
        self.bin_confidence = self.add_variable((num_bins,), "zeros", "float32", name="bin_confidence")
        self.bin_hits = self.add_variable((num_bins,), "zeros", "float32", name="bin_hits")
        self.total = self.add_variable((), "zeros", "float32", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        ids, probabilities = calibration.prepare(y_true, y_pred, self.from_logits)
        confidences = tf.reduce_max(probabilities, axis=-1)
        hits = tf.cast(tf.argmax(probabilities, axis=-1, output_type=tf.int32) == ids, tf.float32)
        weights = tf.ones_like(confidences) if sample_weight is None else tf.reshape(
            tf.cast(sample_weight, tf.float32), [-1])
        count, conf, hit = calibration.bin_statistics(
            confidences, hits, calibration.uniform_edges(self.num_bins), weights)
        self.bin_count.assign_add(count)
        self.bin_confidence.assign_add(conf)
        self.bin_hits.assign_add(hit)
        self.total.assign_add(tf.reduce_sum(weights))

    def result(self):
        return calibration.error_from_statistics(
            self.bin_count, self.bin_confidence, self.bin_hits, self.total)

    def get_config(self):
        config = super().get_config()
        config.update({"num_bins": self.num_bins, "from_logits": self.from_logits})
        return config
