"""kmix.models.ViT: shapes, attention outputs, training, serialization, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests.graph_checks import nchw_ops

K = 3


def tiny(**kwargs):
    args = dict(image_size=16, patch_size=4, num_classes=K, dim=16, depth=2, num_heads=2, seed=0)
    args.update(kwargs)
    return kmix.models.ViT(**args)


def images(batch=4, seed=0, size=16):
    return np.random.default_rng(seed).random((batch, size, size, 3)).astype("float32")


def test_forward_outputs_and_attention_kinds():
    vit = tiny()
    x = images()
    assert vit.num_prefix_tokens == 1 and vit.grid_size == 4 and vit.num_patches == 16
    out = vit.forward(x)
    assert set(out) == {"logits", "tokens"}
    assert out["logits"].shape == (4, K) and out["tokens"].shape == (4, 16, 16)
    np.testing.assert_allclose(out["logits"], vit(x), atol=1e-6)

    cls = vit.forward(x, attention="cls")
    full = vit.forward(x, attention="all")
    patch = vit.forward(x, attention="patch")
    attentions = full["attentions"].numpy()
    assert attentions.shape == (2, 4, 17, 17) and attentions.dtype == np.float32
    np.testing.assert_allclose(attentions.sum(-1), 1.0, atol=1e-5)
    # CLS row of the last block over the patch keys, not renormalised.
    np.testing.assert_allclose(cls["cls_attention"], attentions[-1][:, 0, 1:], atol=1e-6)
    assert np.all(cls["cls_attention"].numpy().sum(-1) < 1.0)
    np.testing.assert_allclose(
        patch["patch_attention"], attentions[-1][:, 1:, 1:].mean(axis=1), atol=1e-6
    )
    # Asking for attention does not change the prediction.
    np.testing.assert_allclose(cls["logits"], out["logits"], atol=1e-6)


def test_attention_is_the_head_mean_of_softmax_scores():
    vit = tiny(depth=1)
    x = images(2)
    tokens = vit.patch_embed(x).numpy().reshape(2, 16, 16)
    tokens = np.concatenate([np.broadcast_to(vit.cls_token.numpy(), (2, 1, 16)), tokens], 1)
    tokens = tokens + vit.pos_embed.numpy()
    h = vit.norm1[0](tokens).numpy()
    qkv = vit.qkv[0](h).numpy().reshape(2, 17, 3, 2, 8).transpose(2, 0, 3, 1, 4)
    scores = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) / np.sqrt(8)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(
        vit.forward(x, attention="all")["attentions"][0], probs.mean(1), atol=1e-5
    )


def test_token_head_option():
    assert tiny().token_head is None
    vit = tiny(token_head=True)
    assert isinstance(vit.token_head, keras.layers.Dense)
    pooled = tf.reduce_mean(vit.forward(images())["tokens"], axis=1)
    assert vit.token_head(pooled).shape == (4, K)


def test_drop_path_is_seeded_and_only_in_training():
    vit = tiny(drop_path_rate=0.5)
    x = images(8)
    np.testing.assert_allclose(vit(x, training=False), vit(x, training=False))
    a = vit(x, training=True).numpy()
    b = vit(x, training=True).numpy()
    assert not np.allclose(a, b)  # the generator advances
    again = tiny(drop_path_rate=0.5)
    again.set_weights(vit.get_weights())
    np.testing.assert_allclose(again(x, training=True), a, atol=1e-6)


def test_channels_first_and_rectangular_images():
    vit = tiny(image_size=(8, 16), data_format="channels_first")
    assert vit.grid_size == (2, 4) and vit.num_patches == 8
    x = np.random.rand(2, 3, 8, 16).astype("float32")
    assert vit.forward(x, attention="cls")["cls_attention"].shape == (2, 8)


def test_channels_first_runs_on_any_cpu_and_equals_channels_last():
    # Many CPUs have no NCHW Conv2D kernel: the model moves channels to the
    # last axis once, so its graph holds no NCHW convolution on any device.
    first = tiny(image_size=(8, 16), data_format="channels_first")
    last = tiny(image_size=(8, 16))
    last.set_weights(first.get_weights())
    x = np.random.default_rng(0).random((2, 8, 16, 3)).astype("float32")
    x_first = np.transpose(x, (0, 3, 1, 2))
    assert nchw_ops(lambda v: first(v, training=True), tf.constant(x_first)) == []
    with tf.device("/CPU:0"):
        np.testing.assert_allclose(first(x_first), last(x), atol=1e-5)
        out = first.forward(x_first, attention="all")
    np.testing.assert_allclose(out["attentions"], last.forward(x, attention="all")["attentions"], atol=1e-5)


def test_mixed_precision_keeps_attention_float32():
    keras.config.set_dtype_policy("mixed_float16")
    vit = tiny()
    out = vit.forward(images(), attention="all")
    assert out["logits"].dtype == tf.float16
    assert out["attentions"].dtype == tf.float32


@pytest.mark.slow
def test_fit_with_a_mixer_under_xla_and_save_load(tmp_path):
    vit = tiny(depth=1, mixer=kmix.layers.CutMix(num_classes=K, seed=0), token_head=True, drop_path_rate=0.1)
    vit.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), jit_compile=True)
    x, y = images(8), np.arange(8) % K
    history = vit.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = str(tmp_path / "vit.keras")
    vit.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kmix.models.ViT) and isinstance(loaded.mixer, kmix.layers.CutMix)
    np.testing.assert_allclose(loaded(x), vit(x), atol=1e-6)
    assert loaded.get_config() == vit.get_config()
    loaded.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy(), run_eagerly=True)
    loaded.fit(x, y, batch_size=4, epochs=1, verbose=0)


def test_config_round_trip_covers_every_argument():
    vit = tiny(mlp_ratio=2, drop_path_rate=0.2, dropout_rate=0.1, attention_dropout_rate=0.1,
               token_head=True, num_channels=1, layer_norm_epsilon=1e-5, image_size=(8, 16),
               data_format="channels_first", name="small")
    config = vit.get_config()
    clone = kmix.models.ViT.from_config(config)
    assert clone.get_config() == config
    for key in ("image_size", "patch_size", "num_classes", "dim", "depth", "num_heads", "mlp_ratio",
                "drop_path_rate", "dropout_rate", "attention_dropout_rate", "token_head",
                "num_channels", "layer_norm_epsilon", "data_format", "seed", "mixer", "label_layer"):
        assert key in config, key


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(patch_size=5), ValueError, r"`patch_size` must divide the image height and width\. Received: patch_size=5 and image_size=16"),
        (dict(patch_size=0), ValueError, r"`patch_size` must be an int >= 1\. Received: patch_size=0"),
        (dict(dim=15), ValueError, r"`dim` must be a multiple of `num_heads`\. Received: dim=15 and num_heads=2"),
        (dict(drop_path_rate=1.0), ValueError, r"`drop_path_rate` must be a float in \[0, 1\)\. Received: drop_path_rate=1.0"),
        (dict(image_size=(8, 8, 8)), ValueError, r"`image_size` must be an int or a pair \(height, width\)\. Received: image_size=\(8, 8, 8\)"),
        (dict(data_format="nhwc"), ValueError, r"`data_format` must be 'channels_last' or 'channels_first'\. Received: data_format='nhwc'"),
        (dict(seed=1.5), TypeError, r"`seed` must be an int or None\. Received: seed=1.5"),
        (dict(mixer=keras.layers.Dense(2)), TypeError, r"`mixer` must be a kmix mixing layer"),
    ],
)
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        tiny(**kwargs)


def test_forward_errors():
    vit = tiny()
    with pytest.raises(ValueError, match=r"`attention` must be one of \(None, 'cls', 'all', 'patch'\)\. Received: attention='last'"):
        vit.forward(images(), attention="last")
    with pytest.raises(ValueError, match=r"ViT takes images of shape \(B,\) \+ \(16, 16, 3\)\. Received: images.shape=\(4, 32, 32, 3\)"):
        vit.forward(images(size=32))


def test_attention_maps_are_taken_before_attention_dropout():
    vit = tiny(attention_dropout_rate=0.5)
    out = vit.forward(images(), training=True, attention="all")
    np.testing.assert_allclose(out["attentions"].numpy().sum(-1), 1.0, atol=1e-5)


def test_no_attention_is_requested_without_a_label_layer():
    from kmix import step_record
    from kmix.losses.mixing_loss import MixingLoss

    seen = []

    class Spy(MixingLoss):
        def call(self, y_true, y_pred):
            record = step_record.get_record()
            fields = ("attention_model", "attention_request") + step_record.ATTENTION_FIELDS
            seen.append(sorted(k for k in fields if getattr(record, k) is not None))
            return tf.reduce_sum(tf.square(y_pred), axis=-1)

    vit = tiny(mixer=kmix.layers.CutMix(num_classes=K, seed=0), depth=1)
    vit.compile(optimizer="sgd", loss=Spy(), run_eagerly=True)
    vit.fit(images(8), np.arange(8) % K, verbose=0)
    assert seen == [[]]
    vit = tiny(mixer=kmix.layers.CutMix(num_classes=K, seed=0), depth=1,
               label_layer=kmix.layers.TransMixLabels())
    vit.compile(optimizer="sgd", loss=Spy(), run_eagerly=True)
    vit.fit(images(8), np.arange(8) % K, verbose=0)
    assert seen[-1] == ["attention_model", "attention_request", "cls_attention"]
