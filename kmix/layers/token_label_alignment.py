"""TokenLabelAlignment (TL-Align)."""

from kmix._export import kmix_export
from kmix.layers.attention_label_layer import AttentionLabelLayer
from kmix.ops.attention import tl_align_lambda


@kmix_export("kmix.layers.TokenLabelAlignment")
class TokenLabelAlignment(AttentionLabelLayer):
    """TL-Align: labels that follow the tokens through every attention block.

    Given as `label_layer=` (with a token-aligned `kmix.layers.CutMix(
    patch_size=p)` as the mixer, as TL-Align), it replaces each training
    step's plan `lam` with `kmix.ops.tl_align_lambda(lam, token_mask,
    attentions)`: the own-label weight of the class token after propagating
    per-token label weights through the head-mean attention of every block of
    the same forward pass, `w_l = 0.5 * (A_l @ w_{l-1} + w_{l-1})`. This closed
    form equals the official per-token label propagation (checked against
    `tl_align.json`) at a fraction of its cost.

    Like the official code, the attention is post-softmax, pre-dropout and
    gradient-stopped, the MLP residual is treated as identity and drop-path is
    ignored. With a CutMix that is not token-aligned, each token counts as the
    image of its top-left pixel. Blend rows (MixUp) keep their area labels
    (the official MixUp branch cannot run).

    Args:
        patch_size: optional int, the ViT patch size. Defaults to the size
            inferred from the image size and the attention's token count.
        refine_mixers: optional list of mixer class names whose rows are
            refined. Defaults to every mixer with a binary mask.
        **kwargs: base layer arguments (`name`).

    Call arguments:
        plan: the step's `kmix.MixPlan`.
        outputs: dict with `"attentions"` `(L, B, T, T)`.
        targets: unused.
        mixer: optional mixing layer that drew the plan (decides which rows).
        aux: deprecated, kept for one release: the plan carries `choice`.

    Returns:
        float32 `(B,)`, the refined own-label weight.

    Example:

    ```python
    import numpy as np
    import kmix

    vit = kmix.models.ViT(
        image_size=16, patch_size=4, num_classes=3, dim=16, depth=2, num_heads=2,
        mixer=kmix.layers.CutMix(patch_size=4, num_classes=3, seed=0),
        label_layer=kmix.layers.TokenLabelAlignment(), seed=0)
    vit.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy())
    history = vit.fit(np.random.rand(8, 16, 16, 3), np.arange(8) % 3, verbose=0)
    print(sorted(history.history))  # ['loss']
    ```

    References:
        - [Xiao et al., 2023](https://arxiv.org/abs/2210.06455) (TL-Align, ICCV 2023)
        - [Euphoria16/TL-Align](https://github.com/Euphoria16/TL-Align)
    """

    required_attention = "all"

    def num_patch_tokens(self, attention):
        tokens = attention.shape[-1]
        return None if tokens is None else tokens - 1  # the class token first

    def attention_lambda(self, plan, token_mask, attention, outputs, targets):
        return tl_align_lambda(plan.lam, token_mask, attention)
