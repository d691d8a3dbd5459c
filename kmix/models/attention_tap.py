"""AttentionTap: the attention of a keras-hub ViTBackbone / DeiTBackbone."""

import keras
import tensorflow as tf

from kmix._export import kmix_export
from kmix.models.vit import ATTENTION_KINDS
from kmix.models.vit import head_mean_float32
from kmix.ops.validation import check_one_of

_KINDS = {"ViTBackbone": "vit", "DeiTBackbone": "deit"}


def _import_keras_hub():
    try:
        import keras_hub  # noqa: F401
    except ImportError as error:  # pragma: no cover - keras-hub is installed in CI
        raise ImportError(
            "kmix.models.attention_tap needs keras-hub for ViTBackbone/DeiTBackbone: "
            "`pip install keras-hub`. (kmix.models.ViT gives the same attention "
            "without it.)"
        ) from error
    return keras_hub


def _backbone_kind(backbone):
    keras_hub = _import_keras_hub()
    if isinstance(backbone, keras_hub.models.DeiTBackbone):
        return "deit"
    if isinstance(backbone, keras_hub.models.ViTBackbone):
        return "vit"
    raise TypeError(
        "`backbone` must be a keras_hub.models.ViTBackbone or DeiTBackbone. "
        f"Received: backbone of type {type(backbone).__name__}"
    )


@kmix_export("kmix.models.AttentionTap")
class AttentionTap(keras.layers.Layer):
    """Re-runs a keras-hub ViT/DeiT backbone and hands out its attention.

    keras-hub's `ViTBackbone` runs its encoder blocks inside one layer and
    never asks its `MultiHeadAttention` layers for scores, so the attention is
    not reachable from the functional graph. This layer holds the backbone's
    own embedding and encoder layers (weights are shared: presets and
    checkpoints load into the backbone as usual) and re-runs the encoder loop,
    asking `MultiHeadAttention(..., return_attention_scores=True)` for the
    post-softmax, pre-dropout scores only in the blocks that are needed, and
    reduces them at once (head mean, float32). For `DeiTBackbone` (distilled:
    two prefix tokens, class then distillation) its encoder's own
    `return_attention_scores=True` path is used and the class-token row is read
    over the patch keys `scores[:, :, 0, 2:]`.

    The re-run duplicates keras-hub's block body (pre-norm attention,
    dropout, residual, pre-norm MLP, residual); a test compares it with
    `backbone(images)` so that a keras-hub change cannot go unnoticed.
    Flash attention cannot return scores: keep it disabled for the backbone.

    Args:
        backbone: a `keras_hub.models.ViTBackbone` (with its class token) or
            `keras_hub.models.DeiTBackbone`.
        attention: `None`, `"cls"`, `"all"` or `"patch"`, as
            `kmix.models.ViT.forward`. Defaults to `"cls"`.
        num_prefix_tokens: optional int, to state the prefix token count you
            expect (1 for ViT, 2 for DeiT); a mismatch with the backbone raises.
        **kwargs: base layer arguments (`name`).

    Call arguments:
        images: the backbone's input images.
        training: bool.

    Returns:
        A dict with `"features"` `(B, T, D)` (equal to `backbone(images)`),
        `"tokens"` `(B, N, D)` (patch tokens only) and, as asked,
        `"cls_attention"` `(B, N)`, `"attentions"` `(L, B, T, T)` (ViT only: one
        prefix token, as TL-Align needs) or `"patch_attention"` `(B, N)`.

    Raises:
        ImportError: keras-hub is not installed.
        TypeError: `backbone` is not a ViT/DeiT backbone.
        ValueError: `num_prefix_tokens` disagrees with the backbone, the ViT has
            no class token but class-token attention is asked for, or
            `attention="all"` with a DeiT backbone.

    Example:

    ```python
    import numpy as np
    import keras_hub
    import kmix

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=4, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32)
    tap = kmix.models.attention_tap(backbone, attention="cls")
    out = tap(np.random.rand(2, 16, 16, 3).astype("float32"))
    print(out["features"].shape, out["cls_attention"].shape)  # (2, 17, 16) (2, 16)
    ```
    """

    def __init__(self, backbone, attention="cls", num_prefix_tokens=None, **kwargs):
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        kind = _backbone_kind(backbone)
        check_one_of(attention, "attention", ATTENTION_KINDS)
        super().__init__(**kwargs)
        if kind == "deit":
            prefix = 2
        else:
            prefix = 1 if backbone.use_class_token else 0
        if num_prefix_tokens is not None and num_prefix_tokens != prefix:
            raise ValueError(
                f"{type(backbone).__name__} has {prefix} prefix token(s)"
                + (" (class, distillation): its class-token attention over the "
                   "patches is scores[:, :, 0, 2:]" if kind == "deit" else "")
                + f". Received: num_prefix_tokens={num_prefix_tokens}"
            )
        if prefix == 0 and attention in ("cls", "all"):
            raise ValueError(
                "The ViTBackbone has no class token (use_class_token=False), so it "
                f"has no class-token attention. Received: attention={attention!r}"
            )
        if kind == "deit" and attention == "all":
            raise ValueError(
                "attention='all' (TL-Align) propagates labels through maps with a "
                "single class token first; DeiTBackbone has two prefix tokens "
                "(class, distillation), which TL-Align does not support. "
                "Received: attention='all' with a DeiTBackbone"
            )
        self.backbone = backbone
        self.attention = attention
        self.num_prefix_tokens = prefix
        self._kind = kind
        if kind == "vit":
            self._embedding = backbone.get_layer("vit_patching_and_embedding")
            self._encoder = backbone.get_layer("vit_encoder")
        else:
            self._embedding = backbone.get_layer("deit_patching_and_embedding")
            self._encoder = backbone.get_layer("deit_encoder")
        self.built = True

    def _vit_block(self, block, x, want, training):
        h = block.layer_norm_1(x)
        scores = None
        if want:
            h, scores = block.mha(h, h, return_attention_scores=True, training=training)
        else:
            h = block.mha(h, h, training=training)
        x = x + block.dropout(h, training=training)
        return x + block.mlp(block.layer_norm_2(x), training=training), scores

    def call(self, images, training=None):
        attention = self.attention
        x = self._embedding(images, training=training)
        maps = []
        if self._kind == "vit":
            encoder = self._encoder
            x = encoder.dropout(x, training=training)
            last = encoder.num_layers - 1
            for i in range(encoder.num_layers):
                want = attention == "all" or (attention is not None and i == last)
                x, scores = self._vit_block(encoder.encoder_layers[i], x, want, training)
                if want:
                    maps.append(head_mean_float32(scores))
            features = encoder.layer_norm(x)
        else:
            features, _, scores = self._encoder(
                x, return_attention_scores=attention is not None, training=training
            )
            if attention is not None:
                maps.append(head_mean_float32(scores[-1]))
        p = self.num_prefix_tokens
        out = {"features": features, "tokens": features[:, p:]}
        if attention == "cls":
            out["cls_attention"] = maps[-1][:, 0, p:]
        elif attention == "all":
            out["attentions"] = tf.stack(maps, axis=0)
        elif attention == "patch":
            out["patch_attention"] = tf.reduce_mean(maps[-1][:, p:, p:], axis=1)
        return out

    def compute_output_spec(self, images, training=None):
        features = self.backbone.compute_output_spec(images)
        batch, tokens, dim = features.shape
        p = self.num_prefix_tokens
        n = None if tokens is None else tokens - p
        out = {"features": features, "tokens": keras.KerasTensor((batch, n, dim), features.dtype)}
        if self.attention in ("cls", "patch"):
            key = "cls_attention" if self.attention == "cls" else "patch_attention"
            out[key] = keras.KerasTensor((batch, n), "float32")
        elif self.attention == "all":
            out["attentions"] = keras.KerasTensor(
                (self._encoder.num_layers, batch, tokens, tokens), "float32"
            )
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "attention": self.attention,
                "num_prefix_tokens": self.num_prefix_tokens,
            }
        )
        return config


def attention_tap(backbone, attention="cls", num_prefix_tokens=None, **kwargs):
    """Returns an `AttentionTap` layer for a keras-hub `ViTBackbone` / `DeiTBackbone`.

    See `kmix.models.AttentionTap`. The layer maps images to a dict with
    `"features"` (as `backbone(images)`), `"tokens"` and the attention asked
    for, so a functional `kmix.models.MixingModel` with a label layer can be
    built on a keras-hub backbone:

    ```python
    import numpy as np
    import keras
    import keras_hub
    import kmix

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=4, num_layers=1, num_heads=2,
        hidden_dim=16, mlp_dim=32)
    inputs = keras.Input((16, 16, 3))
    out = kmix.models.attention_tap(backbone, attention="cls")(inputs)
    logits = keras.layers.Dense(3)(out["features"][:, 0])
    model = kmix.models.MixingModel(
        inputs, {"logits": logits, "cls_attention": out["cls_attention"]},
        mixer=kmix.layers.CutMix(num_classes=3, seed=0),
        label_layer=kmix.layers.TransMixLabels())
    model.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy())
    history = model.fit(np.random.rand(8, 16, 16, 3), np.arange(8) % 3, verbose=0)
    print(sorted(history.history))  # ['loss']
    ```

    Args:
        backbone: a `keras_hub.models.ViTBackbone` or `DeiTBackbone`.
        attention: `None`, `"cls"`, `"all"` or `"patch"`. Defaults to `"cls"`.
        num_prefix_tokens: optional int, checked against the backbone.
        **kwargs: base layer arguments (`name`).

    Returns:
        An `AttentionTap` layer.
    """
    return AttentionTap(backbone, attention=attention, num_prefix_tokens=num_prefix_tokens, **kwargs)
