"""TokenMix's teacher targets: labels that follow the pasted content on a teacher's score maps."""

import tensorflow as tf

from kmix.ops.mixing import blend_rows
from kmix.ops.mixing import one_hot_labels
from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_label_smoothing


def own_class_maps(score_maps, labels, num_classes=None):
    """The teacher's score map of every row's own class, `(B, Gh, Gw)`.

    Args:
        score_maps: float tensor `(B, Gh, Gw, K)`, dense teacher scores per
            token (0 for classes outside a stored top-k).
        labels: class ids `(B,)` / `(B, 1)` or one-hot / soft `(B, K)`; soft
            labels select their argmax class (TokenMix uses the hard label).
        num_classes: int, needed for class ids.

    Returns:
        float32 tensor `(B, Gh, Gw)`.
    """
    score_maps = tf.cast(score_maps, tf.float32)
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank == 2 and labels.shape[-1] != 1 and not labels.dtype.is_integer:
        ids = tf.argmax(labels, axis=-1, output_type=tf.int32)
    else:
        ids = tf.argmax(one_hot_labels(labels, num_classes), axis=-1, output_type=tf.int32)
    select = tf.one_hot(ids, tf.shape(score_maps)[-1], dtype=tf.float32)
    return tf.einsum("bhwk,bk->bhw", score_maps, select)


def tokenmix_scores(score_maps, labels, index, partner_token_mask, num_classes=None):
    """TokenMix's content scores `s_own`, `s_partner` from teacher maps.

    `A_i = D_i / (sum(D_i) + 1e-8)` with `D_i` the map of row `i`'s own class;
    `s_own = sum(A_i * (1 - m_i))` over the tokens row `i` keeps and
    `s_partner = sum(A_j * m_i)` with `j = index[i]` over the tokens it takes
    from its partner (the partner's own map and own class).

    Args:
        score_maps: float tensor `(B, Gh, Gw, K)` for the UNMIXED images.
        labels: class ids `(B,)` (with `num_classes`) or `(B, K)` labels.
        index: int tensor `(B,)`, the partner of every row.
        partner_token_mask: float tensor `(B, Gh, Gw)`, 1 = token from the partner.
        num_classes: int, needed for class ids.

    Returns:
        `(s_own, s_partner)`, two float32 tensors `(B,)`.
    """
    maps = own_class_maps(score_maps, labels, num_classes)
    maps = maps / (tf.reduce_sum(maps, axis=[1, 2], keepdims=True) + 1e-8)
    mask = tf.cast(partner_token_mask, tf.float32)
    s_own = tf.reduce_sum(maps * (1.0 - mask), axis=[1, 2])
    s_partner = tf.reduce_sum(tf.gather(maps, index) * mask, axis=[1, 2])
    return s_own, s_partner


def tokenmix_targets(
    score_maps,
    labels,
    index,
    partner_token_mask,
    num_classes=None,
    label_smoothing=0.0,
    faithful=False,
    fallback_lam=None,
):
    """TokenMix's content-based targets from dense teacher score maps.

    With `faithful=True`, the official target (Sense-X/TokenMix
    `Mixup.__call__`): two smoothed one-hots whose "on" values are the scores,
    `s/K everywhere + (s_own - s/2) on y_own + (s_partner - s/2) on y_partner`
    (`s` = `label_smoothing`). Its rows sum to `s_own + s_partner`, NOT 1; the
    official recipe trains it with binary cross-entropy on logits (timm's
    `BinaryCrossEntropy` with a dense target, which equals
    `keras.losses.BinaryCrossentropy(from_logits=True)`).

    By default (`faithful=False`) the scores are normalised into a label
    weight, `lam = s_own / (s_own + s_partner)`, and the target is kmix's usual
    `lam * y_own + (1 - lam) * y_partner` with smoothed one-hots, whose rows sum
    to 1 (for any soft-target loss). Rows whose two scores are both 0 (the
    teacher gives neither class any mass) use `fallback_lam` (e.g. the area
    share), else 0.5.

    Args:
        score_maps: float tensor `(B, Gh, Gw, K)` for the unmixed images.
        labels: class ids `(B,)` (with `num_classes`) or `(B, K)`.
        index: int tensor `(B,)`, the partner of every row.
        partner_token_mask: float tensor `(B, Gh, Gw)`, 1 = token from the partner.
        num_classes: int. Needed for class ids.
        label_smoothing: float in [0, 1).
        faithful: bool, the official unnormalised target.
        fallback_lam: optional float tensor `(B,)`.

    Returns:
        float32 tensor `(B, K)`.

    Example:

    ```python
    import numpy as np
    from kmix.ops.teacher_targets import tokenmix_targets

    maps = np.zeros((2, 2, 2, 3), "float32")
    maps[0, :, :, 0] = [[1, 1], [0, 0]]   # image 0 (class 0): top row
    maps[1, :, :, 2] = [[0, 0], [1, 3]]   # image 1 (class 2): bottom row
    mask = np.array([[[0, 0], [1, 1]], [[0, 0], [1, 1]]], "float32")
    y = tokenmix_targets(maps, np.array([0, 2]), np.array([1, 0]), mask,
                         num_classes=3)
    print(y.numpy()[0].round(3).tolist())  # [0.5, 0.0, 0.5]
    ```
    """
    check_label_smoothing(label_smoothing)
    score_maps = tf.convert_to_tensor(score_maps)
    if score_maps.shape.rank != 4:
        raise ValueError(
            "`score_maps` must have shape (B, Gh, Gw, K). "
            f"Received: score_maps.shape={_shape_str(score_maps)}"
        )
    index = tf.cast(index, tf.int32)
    k = score_maps.shape[-1]
    s_own, s_partner = tokenmix_scores(
        score_maps, labels, index, partner_token_mask, num_classes or k
    )
    hard = one_hot_labels(
        tf.argmax(_as_soft(labels, num_classes or k), axis=-1, output_type=tf.int32), k
    )
    hard_partner = tf.gather(hard, index)
    if faithful:
        s = float(label_smoothing)
        return (
            s / k
            + (s_own - s / 2.0)[:, None] * hard
            + (s_partner - s / 2.0)[:, None] * hard_partner
        )
    total = s_own + s_partner
    fallback = 0.5 if fallback_lam is None else tf.cast(fallback_lam, tf.float32)
    lam = tf.where(total > 0.0, s_own / tf.where(total > 0.0, total, 1.0), fallback)
    smooth = float(label_smoothing)
    y = hard * (1.0 - smooth) + smooth / k
    y_partner = hard_partner * (1.0 - smooth) + smooth / k
    return blend_rows(y, y_partner, lam)


def _as_soft(labels, num_classes):
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank == 2 and labels.shape[-1] != 1 and not labels.dtype.is_integer:
        return tf.cast(labels, tf.float32)
    return one_hot_labels(labels, num_classes)


__all__ = ["own_class_maps", "tokenmix_scores", "tokenmix_targets"]
