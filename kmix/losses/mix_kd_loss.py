"""MixKDLoss: MIX-KD's distillation loss on mixed images (standardised logits)."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.losses.mixing_loss import MixingLoss
from kmix.losses.mixing_loss import soft_crossentropy
from kmix.ops.validation import check_float
from kmix.ops.validation import check_one_of

MODES = ("mixstd", "hinton")


def _standardise(logits):
    """Logits divided by their own unbiased standard deviation over the classes."""
    logits = tf.cast(logits, tf.float32)
    classes = tf.cast(tf.shape(logits)[-1], tf.float32)
    centred = logits - tf.reduce_mean(logits, axis=-1, keepdims=True)
    std = tf.sqrt(tf.reduce_sum(tf.square(centred), axis=-1, keepdims=True) / (classes - 1.0))
    return logits / std


def mix_kd_terms(student_logits, teacher_logits, targets, gamma=0.1, alpha=0.9, mode="mixstd",
                 temperature=4.0):
    """MIX-KD's two per-row terms `(cls, kd)`, float32 `(B,)` each.

    - `"mixstd"` (official default): each row's logits divided by their own
      unbiased standard deviation (student's not detached), then
      `cls = gamma * CE(targets, softmax(z_s / s))` and
      `kd = alpha * KL(softmax(z_t / u) || softmax(z_s / s))` (no `T^2`).
    - `"hinton"`: `cls = gamma * CE(targets, softmax(z_s))` and
      `kd = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T))`.

    The means over the batch of `cls` and `kd` are the official `loss_cls` and
    `loss_kd` (`KLDivLoss(reduction="batchmean")`).
    """
    teacher = tf.stop_gradient(tf.cast(teacher_logits, tf.float32))
    student = tf.cast(student_logits, tf.float32)
    if mode == "mixstd":
        student_scaled, teacher_scaled = _standardise(student), _standardise(teacher)
        cls = soft_crossentropy(targets, student_scaled)
        scale = 1.0
    else:
        student_scaled, teacher_scaled = student / temperature, teacher / temperature
        cls = soft_crossentropy(targets, student)
        scale = temperature * temperature
    log_p_student = tf.nn.log_softmax(student_scaled, axis=-1)
    log_p_teacher = tf.nn.log_softmax(teacher_scaled, axis=-1)
    kl = tf.reduce_sum(tf.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
    return gamma * cls, alpha * scale * kl


@kmix_export("kmix.losses.MixKDLoss")
class MixKDLoss(MixingLoss):
    """MIX-KD: distillation from a frozen teacher that sees the same mixed images.

    For a `kmix.models.MixingModel(..., teacher=...)`: the step mixes the
    batch (typically with `kmix.layers.MixKDMix`), runs the frozen teacher on
    the very same mixed images (no clean forward pass, as the official code)
    and this loss adds the cross-entropy on the mixed soft targets and the KL
    to the teacher (see `kmix.losses.mix_kd_terms` for both modes). Checked
    against the official `MIXSTD.py` and `KD.py` on seeded cases.

    In evaluation the teacher is not run and the loss is the plain
    cross-entropy of the clean labels (no `gamma`).

    Args:
        gamma: float >= 0, the weight of the cross-entropy. Defaults to `0.1`.
        alpha: float >= 0, the weight of the KL term. Defaults to `0.9`.
        mode: `"mixstd"` (official default: per-row logit standardisation as
            the temperature) or `"hinton"` (temperature `T`, `T^2` scaling).
        temperature: float > 0, Hinton's `T` (only with `mode="hinton"`).
            Defaults to `4.0` (official `kd_T`).
        label_smoothing: float in [0, 1). Defaults to `0.0`.
        reduction, name, dtype: as `keras.losses.Loss`.

    Example:

    ```python
    import keras
    import numpy as np
    import kmix

    def net(width):
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(width, 3, activation="relu")(inputs)
        return inputs, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))

    teacher = keras.Model(*net(16))
    inputs, outputs = net(4)
    student = kmix.models.MixingModel(
        inputs, outputs, mixer=kmix.layers.MixKDMix(num_classes=4, seed=0), teacher=teacher)
    student.compile(optimizer="sgd", loss=kmix.losses.MixKDLoss())
    history = student.fit(np.random.rand(16, 8, 8, 3), np.arange(16) % 4, verbose=0)
    print(sorted(history.history))  # ['loss']
    ```

    References:
        - [Choi et al., 2023](https://arxiv.org/abs/2211.13766) (MIX-KD, WACV 2023)
        - [hchoi71/MIX-KD](https://github.com/hchoi71/MIX-KD) (`distiller_zoo/MIXSTD.py`, `KD.py`)
        - [Hinton et al., 2015](https://arxiv.org/abs/1503.02531)
    """

    expects_logits = True

    def __init__(self, gamma=0.1, alpha=0.9, mode="mixstd", temperature=4.0, label_smoothing=0.0,
                 reduction="sum_over_batch_size", name="mix_kd_loss", dtype=None):
        super().__init__(label_smoothing=label_smoothing, reduction=reduction, name=name, dtype=dtype)
        check_one_of(mode, "mode", MODES)
        self.gamma = check_float(gamma, "gamma", 0)
        self.alpha = check_float(alpha, "alpha", 0)
        self.mode = mode
        self.temperature = check_float(temperature, "temperature", 0, min_inclusive=False)

    def call(self, y_true, y_pred):
        targets, record = self.mixed_targets(y_true, y_pred.shape[-1])
        if record is None or not record.training:
            return soft_crossentropy(targets, y_pred)
        if record.teacher_logits is None:
            raise ValueError(
                "MixKDLoss distils from a teacher that sees the mixed images: give "
                "the model a teacher, kmix.models.MixingModel(..., teacher=model). "
                f"Received: a training step of mixer {record.source.name!r} without "
                "teacher logits"
            )
        cls, kd = mix_kd_terms(y_pred, record.teacher_logits, targets, self.gamma, self.alpha,
                               self.mode, self.temperature)
        return cls + kd

    def get_config(self):
        config = super().get_config()
        config.update({"gamma": self.gamma, "alpha": self.alpha, "mode": self.mode,
                       "temperature": self.temperature})
        return config
