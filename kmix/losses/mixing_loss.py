"""MixingLoss: the base of kmix losses that read the step's mixing plan."""

import keras
import tensorflow as tf

from kmix import step_record
from kmix._compat import require_tensorflow_backend
from kmix.losses._checks import warn_if_not_logits
from kmix.ops.mixing import mix_soft_labels
from kmix.ops.mixing import one_hot_labels
from kmix.ops.validation import check_label_smoothing


class MixingLoss(keras.losses.Loss):
    """Base class of losses that mix the labels with the plan of the step.

    Given to `model.compile(loss=...)`, a subclass receives the raw labels as
    `y_true` (class ids or one-hot) and finds the `MixPlan` that a kmix mixing
    layer (inside the model) or `kmix.models.MixingMixin` drew for the same
    training step. When no plan exists (validation, or labels that a `tf.data`
    pipeline already mixed) the labels are used as they are.

    The step has one plan, so it has one mixer: a second kmix mixing layer in
    the same forward pass, or a mixing layer inside a `MixingMixin` model that
    has its own `mixer`, raises at the first training step instead of leaving
    the loss with the plan of only one of them.

    A loss that reads `y_pred` as logits (`expects_logits`) warns, as Keras's
    cross-entropies do, when `y_pred` comes out of a softmax (or sigmoid)
    activation: it would apply a second softmax and train on a wrong loss.

    Args:
        label_smoothing: float in [0, 1). Applied to both one-hot labels before
            mixing. If the mixing layer also sets `label_smoothing`, the two must
            agree (or one must be 0).
        reduction, name, dtype: as `keras.losses.Loss`.
    """

    # Read by mixing layers to check that the model's loss sees their plan.
    reads_mix_plan = True
    # Losses that cannot work from soft labels alone (they need the partner,
    # lambda or extra logits) refuse to run without a plan.
    _requires_plan = False
    # Losses that read y_pred as logits warn when it is a softmax output.
    expects_logits = False

    def __init__(self, label_smoothing=0.0, reduction="sum_over_batch_size", name=None, dtype=None):
        require_tensorflow_backend(type(self).__name__)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = check_label_smoothing(label_smoothing)

    @property
    def requires_plan(self):
        """Whether the loss needs the plan itself (partner, lambda), not soft labels alone."""
        return self._requires_plan

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.expects_logits:
            # Before Keras converts y_pred, which would drop the softmax mark.
            warn_if_not_logits(y_pred, type(self).__name__, hasattr(self, "from_logits"))
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def _smoothing(self, record):
        own = self.label_smoothing
        if record is None or not record.label_smoothing:
            return own
        if own and own != record.label_smoothing:
            raise ValueError(
                f"{type(self).__name__} has label_smoothing={own} but the "
                f"mixing layer {record.source.name!r} has "
                f"label_smoothing={record.label_smoothing}. Set it in one place."
            )
        return record.label_smoothing

    def step_record(self):
        """The record of this step's mixer, or a clear error if it is required."""
        record = step_record.get_record()
        if record is None and self._requires_plan:
            raise ValueError(
                f"{type(self).__name__} needs the mixing plan of the training step "
                "(the partner of every row and its lambda), and no kmix mixer drew "
                "one: compile a `kmix.models.MixingModel` (or a model built on "
                "`kmix.models.MixingMixin`) with it, or a model that holds a kmix "
                "mixing layer. A plain keras.Model only gives it y_true and y_pred."
            )
        return record

    def own_and_partner_targets(self, y_true, num_classes):
        """Returns `(y, y_partner, lam, record)` for this step.

        `y` are the own targets `(B, K)` (smoothed), `y_partner = take(y, index)`
        and `lam` `(B,)` the weight of the own label.
        """
        record = self.step_record()
        self._check_num_classes(record, num_classes)
        y = one_hot_labels(y_true, num_classes, self._smoothing(record), name="y_true")
        if record is None:
            return y, y, tf.ones(tf.shape(y)[:1], tf.float32), None
        plan = record.plan
        return y, tf.gather(y, plan.index), tf.cast(plan.lam, tf.float32), record

    def _check_num_classes(self, record, num_classes):
        if record is not None and record.num_classes not in (None, num_classes):
            raise ValueError(
                f"The mixing layer {record.source.name!r} has "
                f"num_classes={record.num_classes} but the model predicts "
                f"{num_classes} classes (y_pred.shape[-1])."
            )

    def mixed_targets(self, y_true, num_classes):
        """Returns `(targets, record)`: float32 `(B, K)` targets for this step."""
        record = self.step_record()
        self._check_num_classes(record, num_classes)
        y = one_hot_labels(y_true, num_classes, self._smoothing(record), name="y_true")
        if record is None:
            return y, None
        return mix_soft_labels(y, record.plan), record

    def get_config(self):
        config = super().get_config()
        config.update({"label_smoothing": self.label_smoothing})
        return config


def soft_crossentropy(targets, y_pred, from_logits=True):
    """Per-row `-sum(targets * log p)`, float32 `(B,)`."""
    y_pred = tf.cast(y_pred, tf.float32)
    if from_logits:
        log_p = tf.nn.log_softmax(y_pred, axis=-1)
    else:
        log_p = tf.math.log(tf.clip_by_value(y_pred, keras.backend.epsilon(), 1.0))
    return -tf.reduce_sum(targets * log_p, axis=-1)
