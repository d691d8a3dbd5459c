"""Attention-guided label weights: TransMix, MixPro PAL, TL-Align.

All three map a plan's area lambda, a per-token mask and ViT attention to a
refined weight of each row's OWN label, one scalar per row. Attention inputs
are float32 head means (see `kmix.models.ViT.forward`); every result is
computed in float32 with the gradient stopped, as in the official code.
"""

import tensorflow as tf


def _as_float32(value, name):
    try:
        return tf.cast(tf.convert_to_tensor(value), tf.float32)
    except (TypeError, ValueError) as error:
        raise TypeError(f"`{name}` must be a real tensor. Received: {name} of type {type(value).__name__}") from error


def _check_rank(x, rank, name, form):
    if x.shape.rank != rank:
        raise ValueError(
            f"`{name}` must have shape {form}. Received: {name}.shape={tuple(x.shape)}"
        )


def _check_tokens(token_mask, tokens, attention_name, attention):
    n = token_mask.shape[-1]
    if n is not None and tokens is not None and n not in (1, tokens):
        raise ValueError(
            f"`token_mask` must have one value per patch token of `{attention_name}` "
            f"({tokens} tokens), or 1 for a blend. Received: token_mask.shape="
            f"{tuple(token_mask.shape)} and {attention_name}.shape={tuple(attention.shape)}"
        )


def _prepare(lam, token_mask, attention, attention_name, attention_rank, form, token_axis):
    lam = tf.stop_gradient(_as_float32(lam, "lam"))
    token_mask = tf.stop_gradient(_as_float32(token_mask, "token_mask"))
    attention = tf.stop_gradient(_as_float32(attention, attention_name))
    _check_rank(lam, 1, "lam", "(B,)")
    _check_rank(token_mask, 2, "token_mask", "(B, N)")
    _check_rank(attention, attention_rank, attention_name, form)
    tokens = attention.shape[token_axis]
    if token_axis != 1 and tokens is not None:
        tokens -= 1  # (L, B, T, T) maps include the class token
    _check_tokens(token_mask, tokens, attention_name, attention)
    return lam, token_mask, attention


def attention_share(token_mask, cls_attention):
    """`sum(token_mask * a) / sum(a)` per row: the attention share of masked tokens.

    Args:
        token_mask: float `(B, N)` (or `(B, 1)`, broadcast), weight of each token.
        cls_attention: float `(B, N)`.

    Returns:
        float32 `(B,)`. Rows whose attention sums to 0 give 0.
    """
    masked = tf.reduce_sum(token_mask * cls_attention, axis=-1)
    return tf.math.divide_no_nan(masked, tf.reduce_sum(cls_attention, axis=-1))


def transmix_lambda(lam, token_mask, cls_attention):
    """TransMix: the own-label weight from area and class-token attention.

    `0.5 * (lam + sum(token_mask * a) / sum(a))` per row, with `a` the
    head-mean class-token attention over the patch tokens of the last block
    (`kmix.models.ViT.forward(..., attention="cls")["cls_attention"]`).

    Convention: the official `transmix_label` returns the share of the PASTED
    image b, `0.5 * (area_b + attn_b)`; this function returns the weight of the
    row's OWN image, `1 - lam_b = 0.5 * (lam + attn_own)` (both parts are
    complements, so the two forms describe the same target). The 0.5 average
    of area and attention is the official code's (Beckschen/TransMix#7), not
    the paper's equation. The gradient is stopped.

    Args:
        lam: float `(B,)`, the plan's own-label weight (the own area share).
        token_mask: float `(B, N)`, own-image weight of each patch token
            (`kmix.ops.token_mask(plan.mask, patch_size)`; TransMix reads each
            patch's top-left pixel). `(B, 1)` broadcasts (a blend).
        cls_attention: float `(B, N)`.

    Returns:
        float32 `(B,)`, the refined own-label weight.

    Raises:
        ValueError: a rank is wrong, or the token count of `token_mask`
            disagrees with `cls_attention`.

    Example:

    ```python
    import tensorflow as tf
    import kmix

    lam = tf.constant([0.75])
    own = tf.constant([[1.0, 1.0, 1.0, 0.0]])  # the last token shows the partner
    attention = tf.constant([[0.1, 0.1, 0.1, 0.5]])  # ... and draws most attention
    print(round(float(kmix.ops.transmix_lambda(lam, own, attention)[0]), 4))  # 0.5625
    ```

    References:
        - [Chen et al., 2022](https://arxiv.org/abs/2111.09833) (TransMix, CVPR 2022)
    """
    lam, token_mask, cls_attention = _prepare(
        lam, token_mask, cls_attention, "cls_attention", 2, "(B, N)", 1
    )
    return 0.5 * (lam + attention_share(token_mask, cls_attention))


def cosine_similarity(x, y, epsilon=1e-8):
    """Row-wise cosine similarity with each norm clamped at `epsilon` (PyTorch's rule)."""
    norm_x = tf.maximum(tf.norm(x, axis=-1), epsilon)
    norm_y = tf.maximum(tf.norm(y, axis=-1), epsilon)
    return tf.reduce_sum(x * y, axis=-1) / (norm_x * norm_y)


def progressive_attention_lambda(lam, token_mask, cls_attention, targets, probabilities):
    """MixPro's Progressive Attention Labeling (PAL): the own-label weight.

    `alpha * attn + (1 - alpha) * lam` per row, with
    `attn = sum(token_mask * a) / sum(a)` the own share of the class-token
    attention and `alpha = cosine(targets, probabilities)`, the similarity of
    the area-mixed (smoothed) targets and the model's current prediction on
    the mixed image (norms clamped at 1e-8, as `torch.cosine_similarity`).

    Deviation, on purpose: the official code does not detach `alpha` (gradient
    flows through the label weight into the logits); here the whole result is
    gradient-stopped, as the attention is in every reference.

    Args:
        lam: float `(B,)`, the plan's own-label weight (MaskMix area share).
        token_mask: float `(B, N)`, own-image weight of each token.
        cls_attention: float `(B, N)`, head-mean last-block class-token
            attention over patch tokens.
        targets: float `(B, K)`, area-mixed soft targets.
        probabilities: float `(B, K)`, the model's softmax output.

    Returns:
        float32 `(B,)`, the refined own-label weight.

    Raises:
        ValueError: a rank is wrong, or the token count of `token_mask`
            disagrees with `cls_attention`.

    Example:

    ```python
    import tensorflow as tf
    import kmix

    lam = tf.constant([0.5])
    own = tf.constant([[1.0, 1.0, 0.0, 0.0]])
    attention = tf.constant([[0.3, 0.3, 0.1, 0.1]])  # attn share of own tokens: 0.75
    targets = tf.constant([[0.5, 0.5]])
    probabilities = tf.constant([[0.5, 0.5]])  # alpha = 1: attention only
    print(round(float(kmix.ops.progressive_attention_lambda(
        lam, own, attention, targets, probabilities)[0]), 4))  # 0.75
    ```

    References:
        - [Zhao et al., 2023](https://arxiv.org/abs/2304.12043) (MixPro, ICLR 2023)
    """
    lam, token_mask, cls_attention = _prepare(
        lam, token_mask, cls_attention, "cls_attention", 2, "(B, N)", 1
    )
    targets = tf.stop_gradient(_as_float32(targets, "targets"))
    probabilities = tf.stop_gradient(_as_float32(probabilities, "probabilities"))
    _check_rank(targets, 2, "targets", "(B, K)")
    _check_rank(probabilities, 2, "probabilities", "(B, K)")
    if (
        targets.shape[-1] is not None
        and probabilities.shape[-1] is not None
        and targets.shape[-1] != probabilities.shape[-1]
    ):
        raise ValueError(
            "`targets` and `probabilities` must have the same number of classes. "
            f"Received: targets.shape={tuple(targets.shape)} and "
            f"probabilities.shape={tuple(probabilities.shape)}"
        )
    alpha = cosine_similarity(targets, probabilities)
    return alpha * attention_share(token_mask, cls_attention) + (1.0 - alpha) * lam


def tl_align_lambda(lam, token_mask, attentions):
    """TL-Align (token-label alignment) in closed form: the own-label weight.

    TL-Align propagates a label per token through every block,
    `Y_l = 0.5 * (A_l @ Y_{l-1} + Y_{l-1})` (the attention residual modelled
    as an average; the MLP branch as identity), starting from the mixed label
    on the class token and each token's source label on the patch tokens, and
    trains on the class token's final label. Every label is a mix of the two
    images' labels and each `A_l` row sums to 1, so one scalar per token
    suffices: `w_0 = [lam, token_mask]`, `w_l = 0.5 * (A_l @ w_{l-1} + w_{l-1})`,
    result `w_L[:, 0]` (exactly the official target's weight of the own label,
    at `T` instead of `T * K` numbers per row).

    Args:
        lam: float `(B,)`, the plan's own-label weight.
        token_mask: float `(B, N)`, own-image weight of each patch token (with a
            token-aligned `CutMix(patch_size=p)`, exactly 0 or 1).
        attentions: float `(L, B, T, T)`, head-mean post-softmax attention of
            every block, `T = 1 + N`, class token first
            (`kmix.models.ViT.forward(..., attention="all")["attentions"]`).

    Returns:
        float32 `(B,)`, the refined own-label weight. The gradient is stopped.

    Raises:
        ValueError: a rank is wrong, or the token count of `token_mask`
            disagrees with `attentions`.

    Example:

    ```python
    import tensorflow as tf
    import kmix

    lam = tf.constant([0.5])
    own = tf.constant([[1.0, 0.0]])
    # One block whose class token attends only to the first (own) token.
    attentions = tf.constant([[[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]])
    print(round(float(kmix.ops.tl_align_lambda(lam, own, attentions)[0]), 4))  # 0.75
    ```

    References:
        - [Xiao et al., 2023](https://arxiv.org/abs/2210.06455) (TL-Align, ICCV 2023)
    """
    lam, token_mask, attentions = _prepare(
        lam, token_mask, attentions, "attentions", 4, "(L, B, T, T)", 2
    )
    tokens = tf.shape(attentions)[-1] - 1
    token_mask = tf.broadcast_to(token_mask, tf.stack([tf.shape(token_mask)[0], tokens]))
    w = tf.concat([lam[:, None], token_mask], axis=1)

    def step(w, attention):
        return 0.5 * (tf.linalg.matvec(attention, w) + w)

    if attentions.shape[0] is not None:
        for layer in range(attentions.shape[0]):
            w = step(w, attentions[layer])
    else:
        w = tf.foldl(step, attentions, initializer=w)
    return w[:, 0]
