"""ProgressiveAttentionLabels (MixPro PAL)."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.attention_label_layer import AttentionLabelLayer
from kmix.ops.attention import progressive_attention_lambda


@kmix_export("kmix.layers.ProgressiveAttentionLabels")
class ProgressiveAttentionLabels(AttentionLabelLayer):
    """MixPro's Progressive Attention Labeling (PAL): attention weighted by confidence.

    Given as `label_layer=` (with `kmix.layers.MaskMix` as the mixer, as
    MixPro), it replaces each training step's plan `lam` with
    `kmix.ops.progressive_attention_lambda`: `alpha * attn + (1 - alpha) * lam`,
    where `attn` is the own-token share of the last block's head-mean
    class-token attention of the same forward pass and `alpha` the cosine
    similarity between the area-mixed (smoothed) targets and the model's
    softmax prediction on the mixed batch. Early in training (poor
    predictions) the label follows the area; later, the attention.

    Differences from the official code, on purpose: `alpha` is gradient-stopped
    (MixPro lets the gradient flow through it, about 0.2 % of the logits'
    gradient on the reference case); the loss is whatever the model is
    compiled with on the refined soft target (MixPro's PAL loss is hard-label
    CE weighted by the refined lambda, which equals soft CE on the unsmoothed
    target: use `label_smoothing=0` on the mixer to match it exactly, at the
    price of unsmoothed targets inside `alpha` too). MixPro applies PAL to its
    MaskMix batches only; pass `refine_mixers=["MaskMix"]` to a
    `RandomMixChoice` of MaskMix, MixUp and CutMix to reproduce that.

    Args:
        patch_size: optional int, the ViT patch size. Defaults to the size
            inferred from the image size and the attention's token count.
        refine_mixers: optional list of mixer class names whose rows are
            refined. Defaults to every mixer with a binary mask.
        from_logits: bool. Whether the model outputs logits (softmax taken
            here) or probabilities. Defaults to `True`.
        **kwargs: base layer arguments (`name`).

    Call arguments:
        plan: the step's `kmix.MixPlan`.
        outputs: dict with `"cls_attention"` `(B, N)` and `"logits"` `(B, K)`.
        targets: float32 `(B, K)` area-mixed soft targets.
        mixer: optional mixing layer that drew the plan (decides which rows).
        aux: deprecated, kept for one release: the plan carries `choice`.

    Returns:
        float32 `(B,)`, the refined own-label weight.

    Example:

    ```python
    import numpy as np
    import kmix

    vit = kmix.models.ViT(
        image_size=16, patch_size=4, num_classes=3, dim=16, depth=1, num_heads=2,
        mixer=kmix.layers.MaskMix(mask_patch_size=8, patch_size=4, num_classes=3, seed=0),
        label_layer=kmix.layers.ProgressiveAttentionLabels(), seed=0)
    vit.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy())
    history = vit.fit(np.random.rand(8, 16, 16, 3), np.arange(8) % 3, verbose=0)
    print(sorted(history.history))  # ['loss']
    ```

    References:
        - [Zhao et al., 2023](https://arxiv.org/abs/2304.12043) (MixPro, ICLR 2023)
        - [fistyee/MixPro](https://github.com/fistyee/MixPro)
    """

    required_attention = "cls"
    needs_targets = True

    def __init__(self, patch_size=None, refine_mixers=None, from_logits=True, **kwargs):
        super().__init__(patch_size=patch_size, refine_mixers=refine_mixers, **kwargs)
        if not isinstance(from_logits, bool):
            raise TypeError(f"`from_logits` must be a bool. Received: from_logits={from_logits!r}")
        self.from_logits = from_logits

    def check_outputs(self, outputs, targets):
        if "logits" not in outputs or targets is None:
            raise ValueError(
                "ProgressiveAttentionLabels needs the model's `logits` and the "
                "area-mixed `targets`. Received: outputs with keys "
                f"{sorted(outputs)} and targets={'None' if targets is None else 'a tensor'}"
            )

    def attention_lambda(self, plan, token_mask, attention, outputs, targets):
        logits = tf.cast(outputs["logits"], tf.float32)
        probabilities = tf.nn.softmax(logits, axis=-1) if self.from_logits else logits
        return progressive_attention_lambda(plan.lam, token_mask, attention, targets, probabilities)

    def get_config(self):
        config = super().get_config()
        config["from_logits"] = self.from_logits
        return config
