"""RankMixup: `rank_mixup_mrl`, `rank_mixup_mndcg` and `RankMixupLoss`."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.losses._checks import check_choice
from kmix.losses._checks import check_logits
from kmix.losses._checks import check_non_negative
from kmix.ops.validation import check_float
from kmix.ops.validation import check_int
from kmix.losses.mixing_loss import MixingLoss
from kmix.losses.mixing_loss import soft_crossentropy
from kmix.ops.mixing import one_hot_labels

_MODES = ("mrl", "mndcg")
_CONFIDENCES = ("logits", "probabilities")


def _as_mixes(mixed_logits, per_row, names):
    """`(B, K)` -> `(1, B, K)` and `(B,)` -> `(1, B)`; checks ranks."""
    mixed_logits = check_logits(mixed_logits, names[0], ranks=(2, 3))
    per_row = tf.convert_to_tensor(per_row)
    if mixed_logits.shape.rank == 2:
        mixed_logits = mixed_logits[None]
        if per_row.shape.rank == 1:
            per_row = per_row[None]
    if per_row.shape.rank != 2:
        raise ValueError(
            f"`{names[1]}` must have shape (B,) or (M, B), matching `{names[0]}`. "
            f"Received: {names[1]}.shape={tuple(per_row.shape.as_list()) if per_row.shape.rank is not None else '<unknown>'}"
        )
    return mixed_logits, per_row


def _confidence(logits, confidence):
    logits = tf.cast(logits, tf.float32)
    if confidence == "logits":
        return tf.reduce_max(logits, axis=-1)
    return tf.reduce_max(tf.nn.softmax(logits, axis=-1), axis=-1)


def _mrl_per_sample(raw_logits, mixed_logits, same_class, margin, confidence, upstream_broadcast):
    """`(B,)`: mean over the M mixes of the masked hinge of row i."""
    keep = 1.0 - tf.cast(same_class, tf.float32)  # (M, B)
    gap = _confidence(mixed_logits, confidence) - _confidence(raw_logits, confidence)[None]
    hinge = tf.nn.relu(gap + margin)  # (M, B)
    if upstream_broadcast:
        # The (B,) x (B, 1) broadcast of the official code: the mask's mean
        # scales every row instead of selecting rows.
        per_mix = tf.reduce_mean(keep, axis=-1, keepdims=True) * hinge
    else:
        per_mix = keep * hinge
    return tf.reduce_mean(per_mix, axis=0)


def _mndcg_per_sample(raw_logits, mixed_logits, relevance):
    """`(B,)`: `1 - ndcg_i` (folded ratio) with a stable rank by relevance."""
    relevance = tf.cast(relevance, tf.float32)  # (M, B)
    conf_raw = _confidence(raw_logits, "probabilities")  # (B,)
    conf_mix = _confidence(mixed_logits, "probabilities")  # (M, B)
    num_mixes = relevance.shape[0]
    # Stable descending rank of every mix among the M (0 = most relevant):
    # mixes more relevant, plus equally relevant mixes that come first.
    rel_i = relevance[:, None, :]  # (M, 1, B) -> mix m
    rel_j = relevance[None, :, :]  # (1, M, B) -> mix m'
    earlier = tf.range(num_mixes)[None, :] < tf.range(num_mixes)[:, None]  # [m, m'] = m' < m
    ahead = (rel_j > rel_i) | ((rel_j == rel_i) & earlier[:, :, None])
    rank = tf.reduce_sum(tf.cast(ahead, tf.float32), axis=1)  # (M, B)
    # The raw sample is first (position 1, discount 1/log2(2) = 1); mix of
    # rank r sits at position r + 2.
    discount = 1.0 / (tf.math.log(rank + 3.0) / tf.math.log(2.0))
    dcg = conf_raw + tf.reduce_sum(conf_mix * discount, axis=0)
    idcg = 1.0 + tf.reduce_sum(relevance * discount, axis=0)
    ndcg = tf.where(idcg > dcg, dcg / idcg, idcg / dcg)
    return 1.0 - ndcg


@kmix_export("kmix.losses.rank_mixup_mrl")
def rank_mixup_mrl(raw_logits, mixed_logits, same_class, margin=2.0, confidence="logits",
                   upstream_broadcast=False):
    """RankMixup's mixup ranking loss (MRL): a mixed sample should be less confident.

    `mean_i (1 - same_class_i) * relu(conf(mixed_i) - conf(raw_i) + margin)`,
    where `conf` is the largest logit (the official code; the paper speaks of
    confidences, `confidence="probabilities"` uses the largest softmax
    probability). Mixed row `i` is compared with raw row `i`, the sample whose
    label weight is `lam`, whatever `lam` is. With `M` mixes `(M, B, K)` the
    mean runs over all `M * B` pairs (the official MRL supports `M = 1` only).

    Official difference kept behind a flag: the official mask has shape `(B,)`
    and the hinge `(B, 1)`, so broadcasting scales the mean by the fraction of
    kept rows instead of selecting rows. kmix computes the evident intent;
    `upstream_broadcast=True` reproduces the official value.

    Args:
        raw_logits: float `(B, K)`, logits of the clean batch.
        mixed_logits: float `(B, K)` or `(M, B, K)`, logits of the mixed batch(es).
        same_class: bool/float `(B,)` or `(M, B)`: rows left out (partner of
            the same class, or an unmixed row).
        margin: float. Defaults to `2.0` (the official CIFAR setting, on the
            logit scale).
        confidence: `"logits"` (official) or `"probabilities"`.
        upstream_broadcast: bool. Reproduce the official broadcast. Defaults to
            `False`.

    Returns:
        float32 scalar.

    Example:

    ```python
    import numpy as np
    import kmix

    raw = np.array([[3.0, 0.0], [0.0, 1.0]], "float32")
    mixed = np.array([[2.0, 1.0], [0.5, 0.0]], "float32")
    loss = kmix.losses.rank_mixup_mrl(raw, mixed, same_class=np.array([False, True]))
    print(float(loss))  # 0.5
    ```

    References:
        - [Noh et al., 2023, RankMixup: Ranking-Based Mixup Training for
          Network Calibration](https://arxiv.org/abs/2308.11990)
    """
    check_choice(confidence, _CONFIDENCES, "confidence")
    margin = check_float(margin, "margin")
    raw_logits = check_logits(raw_logits, "raw_logits")
    mixed_logits, same_class = _as_mixes(mixed_logits, same_class, ("mixed_logits", "same_class"))
    return tf.reduce_mean(
        _mrl_per_sample(raw_logits, mixed_logits, same_class, margin, confidence, upstream_broadcast)
    )


@kmix_export("kmix.losses.rank_mixup_mndcg")
def rank_mixup_mndcg(raw_logits, mixed_logits, relevance):
    """RankMixup's mixup NDCG loss (M-NDCG): confidences should rank like the labels.

    Per raw sample `i`, with `M` mixed versions: confidences are max softmax
    probabilities; the raw sample comes first with relevance 1, the mixes follow
    in descending order of `relevance` (a stable order for ties; the official
    `torch.argsort` is not stable, which only matters for ties);
    `DCG = sum_r conf_r / log2(r + 1)`, `IDCG = sum_r rel_r / log2(r + 1)`, and
    the loss is `mean_i (1 - min(DCG / IDCG, IDCG / DCG))`. No gradient is
    stopped (as upstream); the order comes from the labels only.

    Args:
        raw_logits: float `(B, K)`, logits of the clean batch.
        mixed_logits: float `(M, B, K)` (or `(B, K)` for one mix).
        relevance: float `(M, B)` (or `(B,)`): `max(lam, 1 - lam)`, and 1 for a
            pair of the same class.

    Returns:
        float32 scalar.

    Example:

    ```python
    import numpy as np
    import kmix

    raw = np.array([[4.0, 0.0]], "float32")
    mixed = np.array([[[1.0, 0.0]], [[0.2, 0.0]]], "float32")
    loss = kmix.losses.rank_mixup_mndcg(raw, mixed, np.array([[0.7], [0.55]]))
    print(round(float(loss), 4))  # 0.0009
    ```

    References:
        - [Noh et al., 2023, RankMixup: Ranking-Based Mixup Training for
          Network Calibration](https://arxiv.org/abs/2308.11990)
    """
    raw_logits = check_logits(raw_logits, "raw_logits")
    mixed_logits, relevance = _as_mixes(mixed_logits, relevance, ("mixed_logits", "relevance"))
    return tf.reduce_mean(_mndcg_per_sample(raw_logits, mixed_logits, relevance))


@kmix_export("kmix.losses.RankMixupLoss")
class RankMixupLoss(MixingLoss):
    """RankMixup: clean cross-entropy plus a ranking term on mixed samples.

    As the official trainer: `loss = CE(clean logits, y) + weight * term`, with
    `term` the MRL (`mode="mrl"`, `kmix.losses.rank_mixup_mrl`) or the M-NDCG
    (`mode="mndcg"`, `kmix.losses.rank_mixup_mndcg`). There is no mixup
    cross-entropy: mixed samples enter only through the ranking term.

    The loss declares `needs_clean_logits = True` and `num_mixes`, so
    `kmix.models.MixingMixin` draws `num_mixes` plans (each with its own lambda
    and partners), and runs the clean batch and the `num_mixes` mixed batches
    through the model in ONE concatenated forward pass. The loss receives the
    clean logits as `y_pred` and reads the mixed logits and the plans from the
    step. Training metrics are computed on the clean logits.

    **BatchNorm difference:** the official code runs the clean and the mixed
    batches in two separate forward passes, so BatchNorm statistics are
    computed per pass; here they are computed over the concatenation (clean and
    mixed together). Models without BatchNorm are unaffected.

    Rows left out of MRL (and given relevance 1 in M-NDCG) are those paired
    with a partner of the same class and those whose image is not mixed
    (`lam` 0 or 1): the official code finds them as target rows holding a
    1.0 entry. The official MRL mask is broadcast by mistake (see
    `rank_mixup_mrl`); kmix masks per row unless `upstream_broadcast=True`.

    In evaluation it is the clean cross-entropy. It needs
    `kmix.models.MixingModel` (or a model on `kmix.models.MixingMixin`): in a
    plain `keras.Model`, or with a mixing layer inside the model (which cannot
    give it the clean logits), it raises at the first step.

    Args:
        mode: `"mrl"` or `"mndcg"`. Defaults to `"mrl"`.
        num_mixes: int >= 1, mixed batches per step. Defaults to `None`: 1 for
            MRL and 3 for M-NDCG (the official configs).
        margin: float, MRL margin on the logit scale. Defaults to `2.0` (CIFAR;
            the official Tiny-ImageNet config uses 1.0).
        weight: float >= 0, weight of the ranking term (the official `alpha`).
            Defaults to `0.1`.
        confidence: MRL confidence, `"logits"` (official) or `"probabilities"`.
        upstream_broadcast: bool. Reproduce the official MRL mask broadcast.
            Defaults to `False`.
        label_smoothing: float in [0, 1) for the clean cross-entropy. Defaults
            to `0.0`.
        reduction: as `keras.losses.Loss`. Defaults to `"sum_over_batch_size"`.
        name: optional name. Defaults to `"rank_mixup_loss"`.
        dtype: optional dtype of the loss computation.

    Raises:
        ValueError: bad `mode`, `num_mixes < 1`, `weight < 0` (at
            construction); model output not logits `(B, K)`, or no clean and
            mixed logits in the step (at the first step).

    Example:

    ```python
    import numpy as np
    import keras
    import kmix

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(inputs))
    model = kmix.models.MixingModel(
        inputs, outputs, mixer=kmix.layers.MixUp(alpha=2.0, num_classes=4, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.RankMixupLoss(mode="mndcg"))
    history = model.fit(np.random.rand(8, 8, 8, 3), np.arange(8) % 4, verbose=0)
    print(np.isfinite(history.history["loss"][0]))  # True
    ```

    References:
        - [Noh et al., 2023, RankMixup: Ranking-Based Mixup Training for
          Network Calibration](https://arxiv.org/abs/2308.11990)
        - cvlab-yonsei/RankMixup, `calibrate/losses/rankmixup.py`.
    """

    _requires_plan = True
    expects_logits = True
    needs_clean_logits = True

    def __init__(self, mode="mrl", num_mixes=None, margin=2.0, weight=0.1, confidence="logits",
                 upstream_broadcast=False, label_smoothing=0.0,
                 reduction="sum_over_batch_size", name="rank_mixup_loss", dtype=None):
        check_choice(mode, _MODES, "mode")
        check_choice(confidence, _CONFIDENCES, "confidence")
        if num_mixes is None:
            num_mixes = 1 if mode == "mrl" else 3
        num_mixes = check_int(num_mixes, "num_mixes", minimum=1)
        margin = check_float(margin, "margin")
        weight = check_non_negative(weight, "weight")
        super().__init__(
            label_smoothing=label_smoothing, reduction=reduction, name=name, dtype=dtype
        )
        self.mode = mode
        self.num_mixes = num_mixes
        self.margin = margin
        self.weight = weight
        self.confidence = confidence
        self.upstream_broadcast = bool(upstream_broadcast)

    def call(self, y_true, y_pred):
        y_pred = check_logits(y_pred, "y_pred")
        num_classes = y_pred.shape[-1]
        record = self.step_record()
        self._check_num_classes(record, num_classes)
        y = one_hot_labels(y_true, num_classes, self._smoothing(record), name="y_true")
        cross_entropy = soft_crossentropy(y, y_pred)
        if record is None or not record.training:
            return cross_entropy
        if record.mixed_logits is None:
            raise ValueError(
                f"{type(self).__name__} compares the clean and the mixed predictions "
                "of each training step, which only kmix.models.MixingModel (or a "
                "model built on kmix.models.MixingMixin) provides: give the mixer "
                "to the model (mixer=...) instead of putting a mixing layer inside "
                f"it. Received: a step mixed by {type(record.source).__name__} "
                "without clean logits"
            )
        mixed_logits = record.mixed_logits[: self.num_mixes]  # (M, B, K)
        plans = record.plans[: self.num_mixes]
        same_class, relevance = [], []
        for plan in plans:
            lam = tf.cast(plan.lam, tf.float32)
            partner = tf.gather(y, plan.index)
            same = tf.equal(
                tf.argmax(y, axis=-1, output_type=tf.int32),
                tf.argmax(partner, axis=-1, output_type=tf.int32),
            )
            unmixed = same | (lam >= 1.0) | (lam <= 0.0)
            same_class.append(unmixed)
            relevance.append(tf.where(unmixed, 1.0, tf.maximum(lam, 1.0 - lam)))
        if self.mode == "mrl":
            term = _mrl_per_sample(
                y_pred, mixed_logits, tf.stack(same_class), self.margin, self.confidence,
                self.upstream_broadcast,
            )
        else:
            term = _mndcg_per_sample(y_pred, mixed_logits, tf.stack(relevance))
        return cross_entropy + self.weight * term

    def get_config(self):
        config = super().get_config()
        config.update({
            "mode": self.mode,
            "num_mixes": self.num_mixes,
            "margin": self.margin,
            "weight": self.weight,
            "confidence": self.confidence,
            "upstream_broadcast": self.upstream_broadcast,
        })
        return config
