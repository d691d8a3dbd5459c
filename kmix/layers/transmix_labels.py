"""TransMixLabels: label weights from area and the class token's attention."""

from kmix._export import kmix_export
from kmix.layers.attention_label_layer import AttentionLabelLayer
from kmix.ops.attention import transmix_lambda


@kmix_export("kmix.layers.TransMixLabels")
class TransMixLabels(AttentionLabelLayer):
    """TransMix: label weights from area and the class token's attention.

    Given to a `kmix.models.ViT` (or `MixingModel`/`MixingMixin`) as
    `label_layer=`, it replaces each training step's plan `lam` (only `lam`)
    with `kmix.ops.transmix_lambda(lam, token_mask, cls_attention)`:
    `0.5 * (area + attention share)` of the row's own image, where the
    attention is the head-mean class-token attention over the patch tokens of
    the last block of the same forward pass (post-softmax, pre-dropout,
    gradient stopped) and the token mask reads each patch's top-left pixel of
    the plan's mask (PyTorch's nearest downsampling, as the official code).
    kmix losses and plain Keras losses then see the refined labels.

    Only rows mixed by a cut-and-paste mixer are refined (TransMix runs on
    timm's CutMix batches; its MixUp batches keep area labels). With
    `RandomMixChoice([MixUp(...), CutMix(...)], choice_scope="sample")` this is
    decided per row. Beyond the official code, other binary-mask mixers (FMix,
    ResizeMix, MaskMix) are refined too unless `refine_mixers` says otherwise.

    Args:
        patch_size: optional int, the ViT patch size. Defaults to the size
            inferred from the image size and the attention's token count.
        refine_mixers: optional list of mixer class names whose rows are
            refined, e.g. `["CutMix"]`. Defaults to every mixer with a binary
            mask.
        **kwargs: base layer arguments (`name`).

    Call arguments:
        plan: the step's `kmix.MixPlan`.
        outputs: dict with `"cls_attention"` `(B, N)`.
        targets: unused (accepted for a uniform signature).
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
        mixer=kmix.layers.CutMix(num_classes=3, seed=0),
        label_layer=kmix.layers.TransMixLabels(), seed=0)
    vit.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy())
    history = vit.fit(np.random.rand(8, 16, 16, 3), np.arange(8) % 3, verbose=0)
    print(sorted(history.history))  # ['loss']
    ```

    References:
        - [Chen et al., 2022](https://arxiv.org/abs/2111.09833) (TransMix, CVPR 2022)
        - [Beckschen/TransMix](https://github.com/Beckschen/TransMix)
    """

    required_attention = "cls"

    def attention_lambda(self, plan, token_mask, attention, outputs, targets):
        return transmix_lambda(plan.lam, token_mask, attention)
