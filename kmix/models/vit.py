"""ViT: a small DeiT-style vision transformer that can hand out its attention."""

import keras
import tensorflow as tf

from kmix import step_record
from kmix._export import kmix_export
from kmix.layers.mixing_point import MixingPoint
from kmix.models.mixing_mixin import MixingMixin
from kmix.ops.validation import check_float
from kmix.ops.validation import check_int
from kmix.ops.validation import check_seed
from kmix.ops.validation import is_integer_scalar
from kmix.ops.validation import check_one_of
from kmix.ops.validation import check_data_format

ATTENTION_KINDS = (None, "cls", "all", "patch")


def _check_rate(value, name):
    return check_float(value, name, 0, 1, max_inclusive=False)


def _image_hw(image_size):
    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise ValueError(
                "`image_size` must be an int or a pair (height, width). "
                f"Received: image_size={image_size!r}"
            )
        height, width = image_size
    else:
        height = width = image_size
    for side in (height, width):
        if not is_integer_scalar(side) or side < 1:
            raise ValueError(
                "`image_size` must be an int or a pair (height, width) of ints >= 1. "
                f"Received: image_size={image_size!r}"
            )
    return int(height), int(width)


def head_mean_float32(scores):
    """`(B, heads, T, T)` attention -> `(B, T, T)` float32 head mean."""
    return tf.reduce_mean(tf.cast(scores, tf.float32), axis=1)


@kmix_export("kmix.models.ViT")
class ViT(MixingMixin, keras.Model):
    """A small DeiT-style vision transformer that mixes in `fit` and gives its attention.

    Patch embedding (a strided `Conv2D`), a class token, a learned position
    embedding, `depth` pre-norm blocks (multi-head self-attention and a GELU
    MLP, each residual branch with stochastic depth), a final LayerNorm and a
    linear head on the class token: DeiT without distillation token. Built on
    `kmix.models.MixingMixin`, so `fit` mixes each batch with `mixer`; a
    `label_layer` (`kmix.layers.TransMixLabels`,
    `ProgressiveAttentionLabels`, `TokenLabelAlignment`) refines the labels of
    each training step from the attention of the same forward pass. Attention
    is only reduced and returned when asked for; a plain forward pass does no
    extra work.

    Attention maps are the post-softmax, pre-dropout attention probabilities
    (what the official PyTorch code captures), averaged over heads in float32
    even under mixed precision.

    Args:
        image_size: int or `(height, width)`. Input images are
            `(B, height, width, num_channels)` (channels-first with
            `data_format="channels_first"`).
        patch_size: int. Must divide the image sides.
        num_classes: int, the number of logits.
        dim: int, token width. Must be a multiple of `num_heads`.
        depth: int, number of transformer blocks.
        num_heads: int, attention heads per block.
        mlp_ratio: float. MLP hidden width is `int(dim * mlp_ratio)`.
            Defaults to `4`.
        drop_path_rate: float in [0, 1). Stochastic depth rate of the last
            block, linearly increasing from 0 (DeiT's rule). Defaults to `0.0`.
        dropout_rate: float in [0, 1). Dropout after the position embedding,
            projections and MLP. Defaults to `0.0`.
        attention_dropout_rate: float in [0, 1). Dropout on the attention
            probabilities. Defaults to `0.0`.
        token_head: bool. Adds `self.token_head`, a `Dense(num_classes)` for
            pooled patch tokens (SMMix's fine-grained head). Defaults to `False`.
        num_channels: int. Image channels. Defaults to `3`.
        layer_norm_epsilon: float. Defaults to `1e-6` (DeiT).
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        mixing_points: ints in `[1, depth]`: a `kmix.layers.MixingPoint` after
            each of these blocks (1 is the first), where a
            `kmix.layers.ManifoldMixup` mixer may mix the tokens. Defaults to
            none.
        mixer: optional kmix mixing layer used by `fit`.
        label_layer: optional attention-guided label layer used by `fit`.
        seed: int or `None`. Seeds dropout and stochastic depth.
        **kwargs: `keras.Model` arguments (`name`, `dtype`).

    Attributes:
        num_prefix_tokens: `1` (the class token comes first).
        grid_size: `image_size // patch_size` (a pair for non-square images).
        num_patches: `N`, the number of patch tokens.

    Example:

    ```python
    import numpy as np
    import kmix

    vit = kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16,
                          depth=2, num_heads=2, seed=0)
    images = np.random.rand(2, 16, 16, 3).astype("float32")
    print(vit(images).shape)  # (2, 3)
    out = vit.forward(images, attention="cls")
    print(out["tokens"].shape, out["cls_attention"].shape)  # (2, 16, 16) (2, 16)
    print(vit.forward(images, attention="all")["attentions"].shape)  # (2, 2, 17, 17)
    ```

    References:
        - [Dosovitskiy et al., 2021](https://arxiv.org/abs/2010.11929) (ViT)
        - [Touvron et al., 2021](https://arxiv.org/abs/2012.12877) (DeiT)
    """

    num_prefix_tokens = 1

    def __init__(
        self,
        image_size,
        patch_size,
        num_classes,
        dim,
        depth,
        num_heads,
        mlp_ratio=4,
        drop_path_rate=0.0,
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
        token_head=False,
        num_channels=3,
        layer_norm_epsilon=1e-6,
        data_format=None,
        mixer=None,
        label_layer=None,
        seed=None,
        mixing_points=(),
        **kwargs,
    ):
        height, width = _image_hw(image_size)
        patch_size = check_int(patch_size, "patch_size", minimum=1)
        if height % patch_size or width % patch_size:
            raise ValueError(
                "`patch_size` must divide the image height and width. Received: "
                f"patch_size={patch_size} and image_size={image_size!r}"
            )
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        dim = check_int(dim, "dim", minimum=1)
        depth = check_int(depth, "depth", minimum=1)
        num_heads = check_int(num_heads, "num_heads", minimum=1)
        num_channels = check_int(num_channels, "num_channels", minimum=1)
        if dim % num_heads:
            raise ValueError(
                "`dim` must be a multiple of `num_heads`. Received: "
                f"dim={dim} and num_heads={num_heads}"
            )
        mlp_ratio = check_float(mlp_ratio, "mlp_ratio", 0, min_inclusive=False, kind="number")
        drop_path_rate = _check_rate(drop_path_rate, "drop_path_rate")
        dropout_rate = _check_rate(dropout_rate, "dropout_rate")
        attention_dropout_rate = _check_rate(attention_dropout_rate, "attention_dropout_rate")
        layer_norm_epsilon = check_float(
            layer_norm_epsilon, "layer_norm_epsilon", 0, min_inclusive=False
        )
        seed = check_seed(seed)
        if isinstance(mixing_points, (str, bytes)) or not isinstance(mixing_points, (list, tuple)):
            raise TypeError(
                "`mixing_points` must be a list of block numbers in [1, depth]. "
                f"Received: mixing_points={mixing_points!r}"
            )
        points = [check_int(p, "mixing_points", minimum=1, maximum=depth) for p in mixing_points]
        if len(set(points)) != len(points):
            raise ValueError(
                f"`mixing_points` must not repeat a block. Received: mixing_points={list(mixing_points)}"
            )
        data_format = data_format or keras.config.image_data_format()
        check_data_format(data_format)
        kwargs.setdefault("name", "vit")
        super().__init__(mixer=mixer, label_layer=label_layer, **kwargs)
        self.image_size = height if is_integer_scalar(image_size) else (height, width)
        self.patch_size = patch_size
        self.num_classes = num_classes
        self.dim = dim
        self.depth = depth
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.drop_path_rate = float(drop_path_rate)
        self.dropout_rate = float(dropout_rate)
        self.attention_dropout_rate = float(attention_dropout_rate)
        self.use_token_head = bool(token_head)
        self.num_channels = num_channels
        self.layer_norm_epsilon = layer_norm_epsilon
        self.data_format = data_format
        self.seed = seed
        self._height, self._width = height, width
        grid = (height // patch_size, width // patch_size)
        self.grid_size = grid[0] if grid[0] == grid[1] and is_integer_scalar(image_size) else grid
        self.num_patches = grid[0] * grid[1]
        self._grid = grid

        def _seed(offset):
            return None if seed is None else seed + offset

        init = keras.initializers.TruncatedNormal(stddev=0.02)
        dense = dict(kernel_initializer=init, bias_initializer="zeros")
        # Channels-first images are moved to the last axis once, at the input
        # (`forward`): TensorFlow has no NCHW Conv2D kernel on many CPUs, and
        # the kernel's weights do not depend on the layout.
        self.patch_embed = keras.layers.Conv2D(
            dim, patch_size, strides=patch_size, data_format="channels_last", name="patch_embed"
        )
        self.pos_drop = keras.layers.Dropout(dropout_rate, seed=_seed(1), name="pos_drop")
        hidden = int(dim * mlp_ratio)
        self.norm1, self.qkv, self.attn_drop, self.proj, self.proj_drop = [], [], [], [], []
        self.norm2, self.fc1, self.fc2, self.mlp_drop = [], [], [], []
        for i in range(depth):
            self.norm1.append(keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name=f"block{i}_norm1"))
            self.qkv.append(keras.layers.Dense(3 * dim, name=f"block{i}_qkv", **dense))
            self.attn_drop.append(keras.layers.Dropout(attention_dropout_rate, seed=_seed(10 + 4 * i), name=f"block{i}_attn_drop"))
            self.proj.append(keras.layers.Dense(dim, name=f"block{i}_proj", **dense))
            self.proj_drop.append(keras.layers.Dropout(dropout_rate, seed=_seed(11 + 4 * i), name=f"block{i}_proj_drop"))
            self.norm2.append(keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name=f"block{i}_norm2"))
            self.fc1.append(keras.layers.Dense(hidden, activation="gelu", name=f"block{i}_fc1", **dense))
            self.fc2.append(keras.layers.Dense(dim, name=f"block{i}_fc2", **dense))
            self.mlp_drop.append(keras.layers.Dropout(dropout_rate, seed=_seed(12 + 4 * i), name=f"block{i}_mlp_drop"))
        self.norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="norm")
        self.head = keras.layers.Dense(num_classes, name="head", **dense)
        self.token_head = (
            keras.layers.Dense(num_classes, name="token_head", **dense) if token_head else None
        )
        # Stochastic depth rates: 0 at the first block, drop_path_rate at the last.
        self._drop_path_rates = [
            self.drop_path_rate * i / max(depth - 1, 1) for i in range(depth)
        ]
        self.drop_path_seed_generator = keras.random.SeedGenerator(_seed(2))
        # Manifold Mixup's points, in block order.
        self.mixing_points = tuple(sorted(points))
        self.mixing_point_layers = [
            MixingPoint(name=f"mixing_point_after_block{p}") for p in self.mixing_points
        ]
        self.build((None, height, width, num_channels) if data_format == "channels_last"
                   else (None, num_channels, height, width))

    # ------------------------------------------------------------------
    def build(self, input_shape):
        if self.built:
            return
        dim, tokens = self.dim, self.num_patches + self.num_prefix_tokens
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.cls_token = self.add_weight(shape=(1, 1, dim), initializer=init, name="cls_token")
        self.pos_embed = self.add_weight(shape=(1, tokens, dim), initializer=init, name="pos_embed")
        if self.data_format == "channels_first":
            input_shape = (input_shape[0], input_shape[2], input_shape[3], input_shape[1])
        self.patch_embed.build(input_shape)
        token_shape = (None, tokens, dim)
        for i in range(self.depth):
            self.norm1[i].build(token_shape)
            self.qkv[i].build(token_shape)
            self.proj[i].build(token_shape)
            self.norm2[i].build(token_shape)
            self.fc1[i].build(token_shape)
            self.fc2[i].build((None, tokens, int(dim * self.mlp_ratio)))
        self.norm.build(token_shape)
        self.head.build((None, dim))
        if self.token_head is not None:
            self.token_head.build((None, dim))
        self.built = True

    # ------------------------------------------------------------------
    def _drop_path(self, branch, rate, training):
        if not training or rate == 0.0:
            return branch
        keep = 1.0 - rate
        batch = tf.shape(branch)[0]
        u = keras.random.uniform(
            tf.stack([batch, 1, 1]), seed=self.drop_path_seed_generator, dtype="float32"
        )
        mask = tf.cast(tf.floor(keep + u), branch.dtype)
        return branch * mask / tf.cast(keep, branch.dtype)

    def _attention(self, i, x, training):
        batch = tf.shape(x)[0]
        tokens = x.shape[1]
        heads, head_dim = self.num_heads, self.dim // self.num_heads
        qkv = tf.reshape(self.qkv[i](x), [batch, tokens, 3, heads, head_dim])
        qkv = tf.transpose(qkv, [2, 0, 3, 1, 4])  # (3, B, heads, T, hd)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = tf.matmul(q, k, transpose_b=True) * tf.cast(head_dim**-0.5, q.dtype)
        probs = tf.nn.softmax(scores, axis=-1)
        out = tf.matmul(self.attn_drop[i](probs, training=training), v)
        out = tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [batch, tokens, self.dim])
        return self.proj_drop[i](self.proj[i](out), training=training), probs

    def forward(self, images, training=False, attention=None):
        """Runs the model and returns logits, tokens and (when asked) attention.

        Args:
            images: `(B, H, W, C)` images (channels-first per `data_format`).
            training: bool. Dropout and stochastic depth are active when True.
            attention: `None`, `"cls"`, `"all"` or `"patch"`: which attention
                to return (`None`: none, at no extra cost).

        Returns:
            A dict with `"logits"` `(B, K)`, `"tokens"` `(B, N, dim)` (final
            normed patch tokens, no class token), and
            - with `"cls"`: `"cls_attention"` `(B, N)` float32, the last block's
              head-mean class-token row over the patch keys (not renormalised);
            - with `"all"`: `"attentions"` `(L, B, T, T)` float32, head-mean maps
              of every block, `T = 1 + N`, class token first;
            - with `"patch"`: `"patch_attention"` `(B, N)` float32, the last
              block's patch-to-patch map averaged over heads and patch queries
              (SMMix).

        Raises:
            ValueError: `attention` is not one of the above, or the images do
                not have the model's size.
        """
        check_one_of(attention, "attention", ATTENTION_KINDS)
        x = tf.convert_to_tensor(images)
        expected = (
            (self._height, self._width, self.num_channels)
            if self.data_format == "channels_last"
            else (self.num_channels, self._height, self._width)
        )
        if x.shape.rank != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"{type(self).__name__} takes images of shape (B,) + {expected}. "
                f"Received: images.shape={tuple(x.shape)}"
            )
        x = tf.cast(x, self.compute_dtype)
        if self.data_format == "channels_first":
            x = tf.transpose(x, [0, 2, 3, 1])
        x = self.patch_embed(x)
        batch = tf.shape(x)[0]
        x = tf.reshape(x, [batch, self.num_patches, self.dim])
        cls = tf.cast(tf.broadcast_to(self.cls_token, [batch, 1, self.dim]), x.dtype)
        x = tf.concat([cls, x], axis=1) + tf.cast(self.pos_embed, x.dtype)
        x = self.pos_drop(x, training=training)
        maps = []
        last = self.depth - 1
        for i in range(self.depth):
            branch, probs = self._attention(i, self.norm1[i](x), training)
            if attention == "all" or (attention is not None and i == last):
                maps.append(head_mean_float32(probs))
            x = x + self._drop_path(branch, self._drop_path_rates[i], training)
            hidden = self.mlp_drop[i](self.fc1[i](self.norm2[i](x)), training=training)
            branch = self.mlp_drop[i](self.fc2[i](hidden), training=training)
            x = x + self._drop_path(branch, self._drop_path_rates[i], training)
            if i + 1 in self.mixing_points:
                point = self.mixing_point_layers[self.mixing_points.index(i + 1)]
                x = point(x, training=training)
        x = self.norm(x)
        out = {"logits": self.head(x[:, 0]), "tokens": x[:, self.num_prefix_tokens:]}
        p = self.num_prefix_tokens
        if attention == "cls":
            out["cls_attention"] = maps[-1][:, 0, p:]
        elif attention == "all":
            out["attentions"] = tf.stack(maps, axis=0)
        elif attention == "patch":
            out["patch_attention"] = tf.reduce_mean(maps[-1][:, p:, p:], axis=1)
        return out

    def call(self, images, training=None):
        attention = self._requested_attention(training)
        out = self.forward(images, training=bool(training), attention=attention)
        if attention is not None:
            self._record_attention(out)
        return out["logits"]

    # The mixin asks for attention through the step record when a label layer
    # is set; these two hooks answer it.
    def _requested_attention(self, training):
        return step_record.requested_attention(self) if training else None

    def _record_attention(self, out):
        step_record.record_attention(out)

    def get_config(self):
        config = super().get_config()
        for key in ("trainable",):
            config.pop(key, None)
        config.update(
            {
                "image_size": self.image_size,
                "patch_size": self.patch_size,
                "num_classes": self.num_classes,
                "dim": self.dim,
                "depth": self.depth,
                "num_heads": self.num_heads,
                "mlp_ratio": self.mlp_ratio,
                "drop_path_rate": self.drop_path_rate,
                "dropout_rate": self.dropout_rate,
                "attention_dropout_rate": self.attention_dropout_rate,
                "token_head": self.use_token_head,
                "num_channels": self.num_channels,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "data_format": self.data_format,
                "seed": self.seed,
                "mixing_points": list(self.mixing_points),
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("mixer", "label_layer", "teacher"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(
                    config[key], custom_objects=custom_objects
                )
        if isinstance(config.get("image_size"), list):
            config["image_size"] = tuple(config["image_size"])
        return cls(**config)
