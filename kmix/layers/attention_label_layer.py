"""AttentionLabelLayer: the base of the attention-guided label layers.

A label layer refines a step's `lam` from the attention of the same forward
pass. `AttentionLabelLayer.refine_lam` is the one refinement body: it decides
which rows are refined (rows cut and pasted by a refinable mixer), reads the
attention the layer asked for, reads the plan's mask on the token grid and
hands both to the subclass's `attention_lambda`, keeping the area `lam` on the
other rows. A new label layer subclasses it, sets `required_attention`
(`"cls"` or `"all"`) and implements `attention_lambda`.
"""

import math

import keras
import tensorflow as tf

from kmix._export import kmix_export
from kmix.ops.tokens import token_mask as to_token_mask
from kmix.ops.validation import check_int

ATTENTION_KEYS = {"cls": "cls_attention", "all": "attentions"}


def check_refine_mixers(refine_mixers):
    """Validates `refine_mixers` (None or class names) and returns a tuple or None."""
    if refine_mixers is None:
        return None
    if isinstance(refine_mixers, str) or not all(isinstance(n, str) for n in refine_mixers):
        raise TypeError(
            "`refine_mixers` must be None or a list of mixer class names, e.g. "
            f"['CutMix']. Received: refine_mixers={refine_mixers!r}"
        )
    return tuple(refine_mixers)


def check_patch_size(patch_size):
    return check_int(patch_size, "patch_size", minimum=1, allow_none=True)


def _mixer_refinable(mixer, refine_mixers):
    return bool(mixer.binary_mask) and (
        refine_mixers is None or type(mixer).__name__ in refine_mixers
    )


def refined_rows(plan, mixer=None, refine_mixers=None):
    """Which rows get attention labels: rows cut and pasted by a refinable mixer.

    Blend rows (MixUp) keep their area labels, as in TransMix. The mixer tells
    which of its methods mixed each row (`mixer.row_mixers(plan)`: per row for
    a `RandomMixChoice`).

    Returns:
        `None` (every row), `False` (no row) or a bool tensor `(B,)`.
    """
    mask = plan.mask
    if mask.shape[1] == 1 and mask.shape[2] == 1:
        return False  # a blend plan: nothing to refine
    if mixer is None:
        return None
    members, choice = mixer.row_mixers(plan)
    flags = [_mixer_refinable(m, refine_mixers) for m in members]
    if choice is None:
        return None if flags[0] else False
    flags.append(False)  # rows left unmixed
    if all(flags[:-1]):
        return None
    if not any(flags):
        return False
    return tf.gather(tf.constant(flags), choice)


def infer_patch_size(mask, tokens, patch_size=None):
    """The ViT patch size from the pixel mask and the token count of the attention."""
    if patch_size is not None:
        return patch_size
    height, width = mask.shape[1], mask.shape[2]
    if height is None or width is None or tokens is None:
        raise ValueError(
            "Cannot infer the ViT patch size: the mask height/width or the token "
            "count of the attention is unknown. Pass `patch_size` to the label "
            f"layer. Received: mask.shape={tuple(mask.shape)} and {tokens} tokens"
        )
    size = math.isqrt(max(height * width // max(tokens, 1), 1))
    if size * size * tokens != height * width or height % size or width % size:
        raise ValueError(
            f"The attention has {tokens} patch tokens, which does not tile "
            f"{height}x{width} images with square patches. Pass `patch_size` to the "
            "label layer, or check that the attention excludes the prefix (class/"
            f"distillation) tokens. Received: mask.shape={tuple(mask.shape)}"
        )
    return size


def attention_from(outputs, required, layer_name):
    key = ATTENTION_KEYS[required]
    if not isinstance(outputs, dict) or key not in outputs:
        raise ValueError(
            f"{layer_name} needs the model's attention `{key}` (attention="
            f"{required!r}). Received: outputs with keys "
            f"{sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__}"
        )
    return outputs[key]


def select_rows(rows, refined, lam):
    lam = tf.cast(lam, tf.float32)
    if rows is None:
        return refined
    if rows is False:
        return lam
    return tf.where(rows, refined, lam)


@kmix_export("kmix.layers.AttentionLabelLayer")
class AttentionLabelLayer(keras.layers.Layer):
    """Base class of the attention-guided label layers.

    A subclass sets `required_attention` (`"cls"`: the class token's attention
    over the patch tokens of the last block, `(B, N)`; `"all"`: every block's
    head-mean attention, `(L, B, 1 + N, 1 + N)`) and implements
    `attention_lambda`; `refine_lam` (called by the train step of
    `kmix.models.MixingMixin` with the step's plan and the forward pass's
    outputs) does the rest.

    Args:
        patch_size: optional int, the ViT patch size. Defaults to the size
            inferred from the image size and the attention's token count.
        refine_mixers: optional list of mixer class names whose rows are
            refined. Defaults to every mixer with a binary mask.
        **kwargs: base layer arguments (`name`).

    Example (a label layer of one's own: the share of own tokens, weighted by
    the class token's attention):

    ```python
    import numpy as np
    import tensorflow as tf
    import kmix

    class AttentionShare(kmix.layers.AttentionLabelLayer):
        required_attention = "cls"

        def attention_lambda(self, plan, token_mask, attention, outputs, targets):
            weights = attention / tf.reduce_sum(attention, axis=-1, keepdims=True)
            return tf.reduce_sum(weights * token_mask, axis=-1)

    vit = kmix.models.ViT(
        image_size=16, patch_size=4, num_classes=3, dim=16, depth=1, num_heads=2,
        mixer=kmix.layers.CutMix(num_classes=3, seed=0),
        label_layer=AttentionShare(), seed=0)
    vit.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    history = vit.fit(np.random.rand(8, 16, 16, 3), np.arange(8) % 3, verbose=0)
    print(sorted(history.history))  # ['loss']
    ```
    """

    required_attention = "cls"
    # Whether `attention_lambda` needs the area-mixed soft targets.
    needs_targets = False

    def __init__(self, patch_size=None, refine_mixers=None, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = check_patch_size(patch_size)
        self.refine_mixers = check_refine_mixers(refine_mixers)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def attention_lambda(self, plan, token_mask, attention, outputs, targets):
        """The refined own-label weight of every row, float32 `(B,)`.

        Args:
            plan: the step's `kmix.MixPlan` (`plan.lam` is the area lambda).
            token_mask: float32 `(B, N)`, the plan's mask on the token grid.
            attention: the attention named by `required_attention`.
            outputs: dict of the forward pass's outputs (`"logits"` too).
            targets: float32 `(B, K)` area-mixed soft targets, or None
                (given when `needs_targets` is True).
        """
        raise NotImplementedError

    def num_patch_tokens(self, attention):
        """The number of patch tokens `N` in `attention` (None when unknown)."""
        return attention.shape[-1]

    def refine_lam(self, plan, outputs, targets=None, mixer=None, aux=None):
        """Returns the refined own-label weight `(B,)`; area `lam` on rows not refined.

        `aux` (a dict with the per-row `"choice"` of a `RandomMixChoice`) is
        kept for one release: the plan now carries `plan.choice` itself.
        """
        if aux is not None and plan.choice is None and "choice" in aux:
            plan = plan._replace(choice=aux["choice"])
        rows = refined_rows(plan, mixer, self.refine_mixers)
        if rows is False:
            return tf.cast(plan.lam, tf.float32)
        attention = attention_from(outputs, self.required_attention, type(self).__name__)
        self.check_outputs(outputs, targets)
        token_mask = self._token_mask(plan, self.num_patch_tokens(attention))
        refined = self.attention_lambda(plan, token_mask, attention, outputs, targets)
        return select_rows(rows, refined, plan.lam)

    def check_outputs(self, outputs, targets):
        """Raises if `outputs` or `targets` lack what `attention_lambda` reads."""

    def _token_mask(self, plan, tokens):
        patch = infer_patch_size(plan.mask, tokens, self.patch_size)
        mask = to_token_mask(plan.mask, patch)
        height, width = plan.mask.shape[1], plan.mask.shape[2]
        if height is not None and width is not None:
            # Keep the token count static so that a mismatch is caught early.
            mask = tf.reshape(mask, [-1, (height // patch) * (width // patch)])
        return mask

    def call(self, plan, outputs, targets=None, mixer=None, aux=None):
        return self.refine_lam(plan, outputs, targets=targets, mixer=mixer, aux=aux)

    def compute_output_spec(self, plan, *args, **kwargs):
        return keras.KerasTensor(plan.lam.shape, "float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "refine_mixers": list(self.refine_mixers) if self.refine_mixers else None,
            }
        )
        return config
