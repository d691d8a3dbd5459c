"""AdaptiveCalibrationError: streaming AdaECE over a fixed-capacity buffer."""

import keras
import tensorflow as tf

from kmix._compat import require_tensorflow_backend
from kmix._export import kmix_export
from kmix.metrics import calibration
from kmix.ops.validation import check_int


@kmix_export("kmix.metrics.AdaptiveCalibrationError")
class AdaptiveCalibrationError(keras.metrics.Metric):
    """Streaming adaptive calibration error (equal-mass bins).

    Equal-mass bin edges depend on the sorted confidences of ALL samples, so no
    fixed set of per-bin sums can give the exact value. This metric keeps each
    sample's confidence and correctness in a buffer of `max_samples` entries
    and computes `kmix.metrics.adaptive_calibration_error` on them in
    `result()`: the streamed value equals the function on the concatenated
    data. **Memory:** `2 * (max_samples + 1)` float32 values, 8 bytes per
    sample (800 KB for the default 100 000). If more samples than
    `max_samples` arrive before `reset_state()`, `result()` is NaN (never a
    silently wrong number): raise `max_samples` to the size of the evaluation
    set.

    The buffer is per replica, so the metric refuses to run under a
    multi-replica `tf.distribute` strategy (`ExpectedCalibrationError` and
    `ClasswiseCalibrationError` have no such limit). It compiles under XLA.

    Args:
        num_bins: int >= 1. Defaults to `15`.
        from_logits: bool. Whether `y_pred` are logits. Defaults to `False`.
        max_samples: int >= 1, buffer capacity. Defaults to `100000`.
        name: optional name. Defaults to `"adaptive_calibration_error"`.
        dtype: optional dtype of the result.

    Call arguments (`update_state`):
        y_true: class ids `(B,)` / `(B, 1)` or one-hot `(B, K)`.
        y_pred: probabilities (or logits) `(B, K)`.
        sample_weight: not supported (must be `None`).

    Raises:
        ValueError: `sample_weight` given, or a multi-replica strategy.

    Example:

    ```python
    import numpy as np
    import kmix

    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], "float32")
    metric = kmix.metrics.AdaptiveCalibrationError(num_bins=2, max_samples=16)
    metric.update_state(np.array([0, 1]), probabilities[:2])
    metric.update_state(np.array([1, 0]), probabilities[2:])
    print(round(float(metric.result()), 4))  # 0.15
    ```
    """

    def __init__(self, num_bins=15, from_logits=False, max_samples=100_000,
                 name="adaptive_calibration_error", dtype=None):
        require_tensorflow_backend(type(self).__name__)
        num_bins = calibration.check_num_bins(num_bins)
        max_samples = check_int(max_samples, "max_samples", minimum=1)
        super().__init__(name=name, dtype=dtype)
        self.num_bins = num_bins
        self.from_logits = bool(from_logits)
        self.max_samples = max_samples
        # One spare slot receives the samples that do not fit.
        self.confidences = self.add_variable((max_samples + 1,), "zeros", "float32", name="confidences")
        self.hits = self.add_variable((max_samples + 1,), "zeros", "float32", name="hits")
        self.count = self.add_variable((), "zeros", "float32", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "AdaptiveCalibrationError does not support sample weights (its "
                "bins hold equal numbers of samples). Received: sample_weight of "
                f"shape {tuple(tf.convert_to_tensor(sample_weight).shape)}"
            )
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else (
            tf.distribute.get_strategy().num_replicas_in_sync)
        if replicas > 1:
            raise ValueError(
                "AdaptiveCalibrationError keeps every sample in a per-replica "
                "buffer and cannot run under a multi-replica strategy; evaluate it "
                "outside the strategy or use ExpectedCalibrationError. Received: "
                f"num_replicas_in_sync={replicas}"
            )
        ids, probabilities = calibration.prepare(y_true, y_pred, self.from_logits)
        confidences = tf.reduce_max(probabilities, axis=-1)
        hits = tf.cast(tf.argmax(probabilities, axis=-1, output_type=tf.int32) == ids, tf.float32)
        start = tf.cast(self.count, tf.int32)
        positions = start + tf.range(tf.shape(confidences)[0])
        positions = tf.where(positions < self.max_samples, positions, self.max_samples)[:, None]
        self.confidences.assign(tf.tensor_scatter_nd_update(self.confidences, positions, confidences))
        self.hits.assign(tf.tensor_scatter_nd_update(self.hits, positions, hits))
        self.count.assign_add(tf.cast(tf.shape(confidences)[0], tf.float32))

    def result(self):
        size = tf.cast(self.count, tf.int32)
        error = calibration.adaptive_error(
            self.confidences[: self.max_samples], self.hits[: self.max_samples],
            tf.minimum(size, self.max_samples), self.num_bins)
        return tf.where(size > self.max_samples, float("nan"), error)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_bins": self.num_bins,
            "from_logits": self.from_logits,
            "max_samples": self.max_samples,
        })
        return config
