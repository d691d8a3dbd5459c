"""Decoupled Mixup: `decoupled_mixup` and `DecoupledMixupLoss`."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.losses._checks import check_choice
from kmix.losses._checks import check_logits
from kmix.losses._checks import check_non_negative
from kmix.ops.validation import check_float
from kmix.losses.mixing_loss import MixingLoss
from kmix.ops.mixing import one_hot_labels

# A class counts as present in a mixed target when its weight exceeds this
# (openmixup's `ClsMixupHead`); rows whose lambda is within it of 0 or 1 are
# treated as unmixed and get the plain cross-entropy.
_PRESENT = 1e-3
# Stands for log(0) when a competitor is removed from the softmax: finite, so
# that no gradient becomes NaN.
_REMOVED = -1e9
_MODES = ("both", "more", "less")


def _decoupled_nll(logits, keep, drop):
    """`-log(p_keep / (1 - p_drop))` per row, `(B,)`.

    `keep`/`drop` are one-hot `(B, K)`; the dropped class is removed from the
    softmax denominator.
    """
    kept_logit = tf.reduce_sum(logits * keep, axis=-1)
    without = tf.where(drop > 0, tf.constant(_REMOVED, logits.dtype), logits)
    return tf.reduce_logsumexp(without, axis=-1) - kept_logit


@kmix_export("kmix.losses.decoupled_mixup")
def decoupled_mixup(labels, partner_labels, lam, logits, eta=0.1, lam_weighted=True, *,
                    lam_power=1.0, mode="both", threshold=0.5):
    """Decoupled Mixup loss per sample: mixup cross-entropy plus a decoupled regulariser.

    For row `i` with own class `a` (weight `lam`) and partner class `b`
    (weight `1 - lam`):

    ```
    loss_i = CE(logits_i, lam * y_a + (1 - lam) * y_b)
             + e_a * D(a; b) + e_b * D(b; a)
    D(k; j) = -log(p_k / (1 - p_j))          # softmax with the competitor j removed
    (e_a, e_b) = eta * (lam, 1 - lam)        # lam_weighted=True (openmixup configs)
    (e_a, e_b) = (eta, eta)                  # lam_weighted=False (the paper's form)
    ```

    openmixup's other `eta_weight` settings are available too: `lam_power`
    raises the weights to a power (`lam_scale_mode='pow'`, `lam_idx`, with
    `lam_thr=1`), and `mode="more"` keeps only the term of the class whose
    weight is `>= threshold` (`"less"`: only the other one), as the per-method
    CIFAR-100 configs do (e.g. `eta=0.01, mode="more", lam_power=0.5`).

    Rows whose two classes are the same, or whose `lam` is within `1e-3` of 0 or
    1 (an unmixed image), get the cross-entropy only, as upstream. The classes
    `a` and `b` are the arg-max of `labels` and `partner_labels`, so smoothed
    one-hot labels work. No gradient is stopped (upstream detaches nothing).

    `lam_weighted=True` with `eta=0.1` is openmixup's `decouple` configs
    (`eta_weight=dict(eta=0.1, mode='both')`, `lam_scale_mode='pow'`,
    `lam_thr=1`, `lam_idx=1`), checked against the official loss.

    **Deliberate differences from the official code** (openmixup
    `ClsMixupHead.loss` + `soft_mix_cross_entropy`), both upstream bugs:

    1. Upstream hands `eta[k]` to the k-th mixed class of the first mixed row in
       ascending class-index order, not to the own/partner class. When that
       row's own class id is larger than its partner's, `eta * lam` lands on the
       `(1 - lam)` class in every row of the batch. kmix pairs each weight with
       its partner (the two agree when `lam_weighted=False`).
    2. Upstream skips the decoupled term for the whole batch when `lam == 0.5`
       exactly (the two present weights are equal, its "trivial solution").
       kmix keeps it.

    Unlike upstream, `lam` may differ per row (upstream needs one lambda per
    batch), and same-class rows work with per-sample output.

    Args:
        labels: own labels: class ids `(B,)` or one-hot / soft `(B, K)`.
        partner_labels: the partners' labels, same form as `labels`
            (`take(labels, index)`).
        lam: float `(B,)` or scalar, the weight of each row's own label.
        logits: float `(B, K)`, the model's logits on the mixed images.
        eta: float >= 0. Strength of the decoupled term. Defaults to `0.1`.
        lam_weighted: bool. Scale the two terms by `lam` and `1 - lam`
            (openmixup's configs) or use `eta` for both (the paper's
            formula). Defaults to `True`.
        lam_power: float >= 0, keyword-only. Exponent of the weights when
            `lam_weighted` (`e_a = eta * lam ** lam_power`). Defaults to `1.0`.
        mode: `"both"`, `"more"` or `"less"`, keyword-only. Which terms are
            kept: both; only the own class's if `lam >= threshold`, else only
            the partner's (`"more"`); the reverse (`"less"`). Defaults to
            `"both"`.
        threshold: float, keyword-only. The `mode` threshold. Defaults to
            `0.5`.

    Returns:
        float32 tensor `(B,)`, the per-sample loss (the official value is its
        mean over the full batch).

    Raises:
        ValueError: if `eta < 0`, `lam_power < 0`, a bad `mode`, or `logits`
            is not `(B, K)`.

    Example:

    ```python
    import numpy as np
    import kmix

    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]], "float32")
    loss = kmix.losses.decoupled_mixup(
        labels=np.array([0, 1]), partner_labels=np.array([1, 1]),
        lam=np.array([0.7, 0.6], "float32"), logits=logits,
    )
    print(np.round(loss.numpy(), 4))  # [0.7826 0.958 ]
    ```

    References:
        - [Liu et al., 2023, Harnessing Hard Mixed Samples with Decoupled
          Regularizer](https://arxiv.org/abs/2203.10761)
        - openmixup `ClsMixupHead` and `soft_mix_cross_entropy`
          (Westlake-AI/openmixup).
    """
    check_non_negative(eta, "eta")
    check_non_negative(lam_power, "lam_power")
    check_choice(mode, _MODES, "mode")
    logits = check_logits(logits, "logits")
    num_classes = logits.shape[-1]
    y = one_hot_labels(labels, num_classes, name="labels")
    y_b = one_hot_labels(partner_labels, num_classes, name="partner_labels")
    z = tf.cast(logits, tf.float32)
    lam = tf.cast(tf.convert_to_tensor(lam), tf.float32)
    lam = tf.broadcast_to(tf.reshape(lam, [-1]), tf.shape(z)[:1])

    targets = lam[:, None] * y + (1.0 - lam[:, None]) * y_b
    cross_entropy = -tf.reduce_sum(targets * tf.nn.log_softmax(z, axis=-1), axis=-1)

    class_a = tf.argmax(y, axis=-1, output_type=tf.int32)
    class_b = tf.argmax(y_b, axis=-1, output_type=tf.int32)
    one_hot_a = tf.one_hot(class_a, num_classes, dtype=tf.float32)
    one_hot_b = tf.one_hot(class_b, num_classes, dtype=tf.float32)
    mixed = (class_a != class_b) & (lam > _PRESENT) & (1.0 - lam > _PRESENT)
    if lam_weighted:
        eta_a, eta_b = eta * tf.pow(lam, lam_power), eta * tf.pow(1.0 - lam, lam_power)
    else:
        eta_a = eta_b = tf.fill(tf.shape(lam), tf.cast(eta, tf.float32))
    if mode != "both":
        keep_a = lam >= threshold if mode == "more" else lam < threshold
        eta_a = tf.where(keep_a, eta_a, 0.0)
        eta_b = tf.where(keep_a, 0.0, eta_b)
    decoupled = eta_a * _decoupled_nll(z, one_hot_a, one_hot_b) + eta_b * _decoupled_nll(
        z, one_hot_b, one_hot_a
    )
    return cross_entropy + tf.where(mixed, decoupled, tf.zeros_like(decoupled))


@kmix_export("kmix.losses.DecoupledMixupLoss")
class DecoupledMixupLoss(MixingLoss):
    """Decoupled Mixup (DM): mixup cross-entropy plus a decoupled regulariser.

    Reads the step's plan (own labels, partner labels, per-sample `lam`) and
    computes `kmix.losses.decoupled_mixup` on the logits of the mixed batch,
    averaged over the full batch as the official code does. Only the mixed
    forward pass is needed. See `decoupled_mixup` for the formula and for the
    two upstream bugs that kmix does not copy (the eta-to-class ordering and
    the term skipped at `lam == 0.5`).

    In evaluation (identity plan) it is the plain cross-entropy. It needs a
    mixing plan, so it works in a `kmix.models.MixingModel` (or a model built on
    `kmix.models.MixingMixin`, or one holding a kmix mixing layer); in a plain
    `keras.Model` it raises at the first step.

    Args:
        eta: float >= 0. Strength of the decoupled term. Defaults to `0.1`
            (openmixup's configs).
        lam_weighted: bool. `True`: terms weighted `eta * lam` and
            `eta * (1 - lam)` (openmixup's configs, the default); `False`:
            `eta` for both (the paper's formula).
        lam_power: float >= 0. Exponent of the weights when `lam_weighted`.
            Defaults to `1.0`.
        mode: `"both"`, `"more"` or `"less"`: which terms are kept (see
            `decoupled_mixup`). Defaults to `"both"`.
        threshold: float, the `mode` threshold. Defaults to `0.5`.
        label_smoothing: float in [0, 1). Applied to the one-hot labels before
            mixing (upstream cannot combine the two). Defaults to `0.0`.
        reduction: as `keras.losses.Loss`. Defaults to `"sum_over_batch_size"`.
        name: optional name. Defaults to `"decoupled_mixup_loss"`.
        dtype: optional dtype of the loss computation.

    Raises:
        ValueError: `eta < 0` (at construction); logits not `(B, K)`, or no
            mixing plan in the step (at the first step).

    Example:

    ```python
    import numpy as np
    import keras
    import kmix

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(inputs))
    model = kmix.models.MixingModel(
        inputs, outputs, mixer=kmix.layers.CutMix(num_classes=4, seed=0))
    model.compile(optimizer="adam", loss=kmix.losses.DecoupledMixupLoss(eta=0.1))
    history = model.fit(np.random.rand(8, 8, 8, 3), np.arange(8) % 4, verbose=0)
    print(np.isfinite(history.history["loss"][0]))  # True
    ```

    References:
        - [Liu et al., 2023, Harnessing Hard Mixed Samples with Decoupled
          Regularizer](https://arxiv.org/abs/2203.10761)
    """

    _requires_plan = True
    expects_logits = True

    def __init__(self, eta=0.1, lam_weighted=True, lam_power=1.0, mode="both", threshold=0.5,
                 label_smoothing=0.0, reduction="sum_over_batch_size",
                 name="decoupled_mixup_loss", dtype=None):
        eta = check_non_negative(eta, "eta")
        lam_power = check_non_negative(lam_power, "lam_power")
        check_choice(mode, _MODES, "mode")
        threshold = check_float(threshold, "threshold")
        super().__init__(
            label_smoothing=label_smoothing, reduction=reduction, name=name, dtype=dtype
        )
        self.eta = eta
        self.lam_weighted = bool(lam_weighted)
        self.lam_power = lam_power
        self.mode = mode
        self.threshold = threshold

    def call(self, y_true, y_pred):
        y_pred = check_logits(y_pred, "y_pred")
        y, y_partner, lam, _ = self.own_and_partner_targets(y_true, y_pred.shape[-1])
        return decoupled_mixup(
            y, y_partner, lam, y_pred, self.eta, self.lam_weighted,
            lam_power=self.lam_power, mode=self.mode, threshold=self.threshold,
        )

    def get_config(self):
        config = super().get_config()
        config.update({
            "eta": self.eta,
            "lam_weighted": self.lam_weighted,
            "lam_power": self.lam_power,
            "mode": self.mode,
            "threshold": self.threshold,
        })
        return config
