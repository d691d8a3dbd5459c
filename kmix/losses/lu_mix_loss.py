"""LUMixLoss: mixup cross-entropy with a perturbed, prediction-informed label ratio."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.losses._checks import check_choice
from kmix.losses._checks import check_logits
from kmix.losses._checks import check_non_negative
from kmix.losses.mixing_loss import MixingLoss
from kmix.losses.mixing_loss import soft_crossentropy

_NOISES = ("uniform", "gaussian", "none")
# Fold-in constant that separates this loss's draws from other users of the
# step seed.
_SEED_SALT = 0x4C554D


@kmix_export("kmix.losses.LUMixLoss")
class LUMixLoss(MixingLoss):
    """LUMix-style loss: mixup cross-entropy with an uncertain label ratio.

    **Not validated against an official implementation.** LUMix (Sun et al.,
    2022) has no released code (its repository holds a README saying "coming
    soon"), so there is nothing to test against. This class implements the
    paper's description: the label ratio of a mixed sample is uncertain, so it
    is perturbed during training, and the model's own prediction on the mixed
    image is used as evidence for the ratio. Every choice is an argument; the
    defaults are kmix's, not numbers taken from the paper.

    For row `i` with own label `y_a` (weight `lam`) and partner label `y_b`:

    ```
    lam_noise = clip(lam + eps, 0, 1)              eps ~ U(-s, s) or N(0, s^2)
    lam_pred  = stop_gradient(p_a / (p_a + p_b))    p = softmax(logits on the mixed image)
    lam'      = clip((1 - w) * lam_noise + w * lam_pred, 0, 1)
    loss_i    = CE(logits_i, lam' * y_a + (1 - lam') * y_b)
    ```

    with `s = noise_scale` and `w = prediction_weight`. Rows whose image is not
    mixed (`lam` 0 or 1) or whose two labels are the same class keep their
    `lam`. The prediction ratio is detached (it is part of the target). The
    noise comes from stateless ops seeded with the step seed that
    `kmix.models.MixingMixin` records (reproducible, different on every step
    and every replica), never from a global random generator. In evaluation it
    is the plain cross-entropy.

    Needs `kmix.models.MixingModel` (or a model on `kmix.models.MixingMixin`)
    when `noise != "none"` (the step seed comes from there); in a plain
    `keras.Model` it raises at the first step.

    Args:
        noise: `"uniform"`, `"gaussian"` or `"none"`. Distribution of the ratio
            perturbation. Defaults to `"uniform"`.
        noise_scale: float >= 0. Half-width (uniform) or standard deviation
            (gaussian) of the perturbation. Defaults to `0.1`.
        prediction_weight: float in [0, 1]. Weight `w` of the prediction-based
            ratio. Defaults to `0.5`.
        label_smoothing: float in [0, 1). Applied to the one-hot labels before
            mixing. Defaults to `0.0`.
        reduction: as `keras.losses.Loss`. Defaults to `"sum_over_batch_size"`.
        name: optional name. Defaults to `"lu_mix_loss"`.
        dtype: optional dtype of the loss computation.

    Raises:
        ValueError: bad `noise`, `noise_scale < 0`, `prediction_weight` outside
            [0, 1] (at construction); logits not `(B, K)`, no plan or no step
            seed (at the first step).

    Example:

    ```python
    import numpy as np
    import keras
    import kmix

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(inputs))
    model = kmix.models.MixingModel(
        inputs, outputs, mixer=kmix.layers.CutMix(num_classes=4, seed=0))
    model.compile(optimizer="adam", loss=kmix.losses.LUMixLoss(noise_scale=0.1))
    history = model.fit(np.random.rand(8, 8, 8, 3), np.arange(8) % 4, verbose=0)
    print(np.isfinite(history.history["loss"][0]))  # True
    ```

    References:
        - [Sun et al., 2022, LUMix: Improving Mixup by Better Modelling Label
          Uncertainty](https://arxiv.org/abs/2211.15846)
    """

    _requires_plan = True
    expects_logits = True

    def __init__(self, noise="uniform", noise_scale=0.1, prediction_weight=0.5,
                 label_smoothing=0.0, reduction="sum_over_batch_size", name="lu_mix_loss",
                 dtype=None):
        check_choice(noise, _NOISES, "noise")
        noise_scale = check_non_negative(noise_scale, "noise_scale")
        prediction_weight = check_non_negative(prediction_weight, "prediction_weight")
        if prediction_weight > 1:
            raise ValueError(
                "`prediction_weight` must be a float in [0, 1]. "
                f"Received: prediction_weight={prediction_weight}"
            )
        super().__init__(
            label_smoothing=label_smoothing, reduction=reduction, name=name, dtype=dtype
        )
        self.noise = noise
        self.noise_scale = noise_scale
        self.prediction_weight = prediction_weight

    def _perturbation(self, record, shape):
        if self.noise == "none" or not self.noise_scale:
            return tf.zeros(shape, tf.float32)
        seed = record.loss_seed
        if seed is None:
            raise ValueError(
                f"{type(self).__name__} draws its label noise from the step seed that "
                "kmix.models.MixingModel (or a model built on "
                "kmix.models.MixingMixin) records, and this step has none: give "
                "the mixer to the model (mixer=...) instead of putting a mixing "
                f"layer inside it, or use noise='none'. Received: a step mixed by "
                f"{type(record.source).__name__} without a seed"
            )
        seed = tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int32), _SEED_SALT)
        if self.noise == "uniform":
            return tf.random.stateless_uniform(
                shape, seed, minval=-self.noise_scale, maxval=self.noise_scale
            )
        return self.noise_scale * tf.random.stateless_normal(shape, seed)

    def perturbed_lambda(self, y, y_partner, lam, logits, record):
        """Returns the perturbed own-label weight `lam'` `(B,)` (no gradient)."""
        probabilities = tf.stop_gradient(tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1))
        class_a = tf.argmax(y, axis=-1, output_type=tf.int32)
        class_b = tf.argmax(y_partner, axis=-1, output_type=tf.int32)
        p_a = tf.gather(probabilities, class_a, batch_dims=1)
        p_b = tf.gather(probabilities, class_b, batch_dims=1)
        lam_pred = p_a / tf.maximum(p_a + p_b, 1e-12)
        lam_noise = tf.clip_by_value(lam + self._perturbation(record, tf.shape(lam)), 0.0, 1.0)
        w = float(self.prediction_weight)
        new_lam = tf.clip_by_value((1.0 - w) * lam_noise + w * lam_pred, 0.0, 1.0)
        mixed = (class_a != class_b) & (lam > 0.0) & (lam < 1.0)
        return tf.stop_gradient(tf.where(mixed, new_lam, lam))

    def call(self, y_true, y_pred):
        y_pred = check_logits(y_pred, "y_pred")
        y, y_partner, lam, record = self.own_and_partner_targets(y_true, y_pred.shape[-1])
        if record is not None and record.training:
            lam = self.perturbed_lambda(y, y_partner, lam, y_pred, record)
        targets = lam[:, None] * y + (1.0 - lam[:, None]) * y_partner
        return soft_crossentropy(targets, y_pred)

    def get_config(self):
        config = super().get_config()
        config.update({
            "noise": self.noise,
            "noise_scale": self.noise_scale,
            "prediction_weight": self.prediction_weight,
        })
        return config
