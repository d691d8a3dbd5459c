"""kmix.models.attention_tap on tiny randomly initialised keras-hub ViT / DeiT backbones."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests.distributed_checks import assert_replicas_in_sync
from tests.layers.test_label_layers import RefinedLamGap

keras_hub = pytest.importorskip("keras_hub")

H, P, K = 16, 4, 3
# The tap asks every MultiHeadAttention for its scores, which switches it from
# the fused attention kernel to the explicit einsum path: the same math in
# another summation order. With the sharpened (x20) queries below, float32
# round-off then reaches ~4e-5 on features of size ~1.5.
FEATURES_ATOL = 1e-4


def vit_backbone(**kwargs):
    keras.utils.set_random_seed(0)
    return keras_hub.models.ViTBackbone(image_shape=(H, H, 3), patch_size=P, num_layers=2,
                                        num_heads=2, hidden_dim=16, mlp_dim=32, **kwargs)


def deit_backbone():
    keras.utils.set_random_seed(0)
    return keras_hub.models.DeiTBackbone(image_shape=(H, H, 3), patch_size=P, num_layers=2,
                                         num_heads=2, hidden_dim=16, intermediate_dim=32)


def sharpen(backbone):
    # Random init gives nearly uniform attention; make the test maps informative.
    for w in backbone.weights:
        if "query" in w.path and w.path.endswith("kernel"):
            w.assign(w * 20.0)


def images(batch=4):
    return np.random.default_rng(0).random((batch, H, H, 3)).astype("float32")


@pytest.mark.parametrize("attention", [None, "cls", "all", "patch"])
def test_vit_tap_reproduces_the_backbone_and_its_attention(attention):
    backbone = vit_backbone()
    sharpen(backbone)
    x = images()
    out = kmix.models.attention_tap(backbone, attention=attention)(x)
    np.testing.assert_allclose(out["features"], backbone(x), atol=FEATURES_ATOL)
    np.testing.assert_allclose(out["tokens"], backbone(x)[:, 1:], atol=FEATURES_ATOL)
    full = kmix.models.attention_tap(backbone, attention="all")(x)["attentions"].numpy()
    assert full.shape == (2, 4, 17, 17) and full.dtype == np.float32
    np.testing.assert_allclose(full.sum(-1), 1.0, atol=1e-5)
    # The last block's scores straight from its MultiHeadAttention layer.
    block = backbone.get_layer("vit_encoder").encoder_layers[-1]
    np.testing.assert_allclose(full[-1][:, 0, 0] + full[-1][:, 0, 1:].sum(-1), 1.0, atol=1e-5)
    if attention == "cls":
        np.testing.assert_allclose(out["cls_attention"], full[-1][:, 0, 1:], atol=1e-5)
        assert out["cls_attention"].numpy().std() > 1e-3
    if attention == "patch":
        np.testing.assert_allclose(out["patch_attention"], full[-1][:, 1:, 1:].mean(1), atol=1e-5)
    assert block.mha is not None


def test_deit_tap_reads_the_class_row_past_the_distillation_token():
    backbone = deit_backbone()
    sharpen(backbone)
    x = images()
    tap = kmix.models.attention_tap(backbone, attention="cls")
    assert tap.num_prefix_tokens == 2
    out = tap(x)
    np.testing.assert_allclose(out["features"], backbone(x), atol=FEATURES_ATOL)
    assert out["tokens"].shape == (4, 16, 16)
    embedded = backbone.get_layer("deit_patching_and_embedding")(x)
    _, _, scores = backbone.get_layer("deit_encoder")(embedded, return_attention_scores=True)
    last = tf.reduce_mean(scores[-1], axis=1).numpy()
    np.testing.assert_allclose(last.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["cls_attention"], last[:, 0, 2:], atol=1e-6)
    # Class->class and class->distillation mass is what the slice leaves out.
    np.testing.assert_allclose(out["cls_attention"].numpy().sum(-1) + last[:, 0, :2].sum(-1), 1.0, atol=1e-5)


def test_deit_prefix_count_handled_wrongly_is_an_error():
    backbone = deit_backbone()
    with pytest.raises(ValueError, match=r"DeiTBackbone has 2 prefix token\(s\) \(class, distillation\): its class-token attention over the patches is scores\[:, :, 0, 2:\]\. Received: num_prefix_tokens=1"):
        kmix.models.attention_tap(backbone, num_prefix_tokens=1)
    # A slice that keeps the distillation token gives 17 "patch" tokens for a
    # 4x4 grid: the label layer refuses it instead of mislabelling.
    embedded = backbone.get_layer("deit_patching_and_embedding")(images(2))
    _, _, scores = backbone.get_layer("deit_encoder")(embedded, return_attention_scores=True)
    wrong = tf.reduce_mean(scores[-1], axis=1)[:, 0, 1:]
    plan = kmix.layers.CutMix().sample_plan(images(2), seed=0)
    with pytest.raises(ValueError, match=r"The attention has 17 patch tokens, which does not tile 16x16 images"):
        kmix.layers.TransMixLabels().refine_lam(plan, {"cls_attention": wrong})
    with pytest.raises(ValueError, match=r"`token_mask` must have one value per patch token of `cls_attention` \(17 tokens\)"):
        kmix.layers.TransMixLabels(patch_size=P).refine_lam(plan, {"cls_attention": wrong})


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: kmix.models.attention_tap(vit_backbone(), num_prefix_tokens=2), ValueError,
         r"ViTBackbone has 1 prefix token\(s\)\. Received: num_prefix_tokens=2"),
        (lambda: kmix.models.attention_tap(vit_backbone(use_class_token=False)), ValueError,
         r"The ViTBackbone has no class token \(use_class_token=False\), so it has no class-token attention\. Received: attention='cls'"),
        (lambda: kmix.models.attention_tap(deit_backbone(), attention="all"), ValueError,
         r"DeiTBackbone has two prefix tokens \(class, distillation\), which TL-Align does not support\. Received: attention='all' with a DeiTBackbone"),
        (lambda: kmix.models.attention_tap(keras.layers.Dense(2)), TypeError,
         r"`backbone` must be a keras_hub.models.ViTBackbone or DeiTBackbone\. Received: backbone of type Dense"),
        (lambda: kmix.models.attention_tap(vit_backbone(), attention="last"), ValueError,
         r"`attention` must be one of \(None, 'cls', 'all', 'patch'\)\. Received: attention='last'"),
    ],
)
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def tapped_model(attention="cls", label_layer=None, mixer=None):
    backbone = vit_backbone()
    sharpen(backbone)
    inputs = keras.Input((H, H, 3))
    out = kmix.models.attention_tap(backbone, attention=attention)(inputs)
    logits = keras.layers.Dense(K)(out["features"][:, 0])
    key = {"cls": "cls_attention", "all": "attentions"}[attention]
    return kmix.models.MixingModel(
        inputs, {"logits": logits, key: out[key]},
        mixer=mixer or kmix.layers.CutMix(num_classes=K, seed=0, lam_scope="sample"),
        label_layer=label_layer or kmix.layers.TransMixLabels())


def test_mixing_model_on_a_tapped_backbone_trains_on_refined_labels():
    log = []
    model = tapped_model()
    model.compile(optimizer="sgd", loss=RefinedLamGap("transmix", log), metrics=["accuracy"],
                  run_eagerly=True)
    x, y = images(8), np.arange(8) % K
    history = model.fit(x, y, verbose=0)
    assert log and log[0]["gap"].max() < 1e-6
    assert np.abs(log[0]["lam"] - log[0]["area"]).max() > 1e-2
    assert "accuracy" in history.history
    assert set(model.predict(x, verbose=0)) == {"logits", "cls_attention"}


@pytest.mark.slow
def test_tapped_backbone_with_tl_align_under_xla():
    model = tapped_model("all", kmix.layers.TokenLabelAlignment(),
                         kmix.layers.CutMix(patch_size=P, num_classes=K, seed=0, lam_scope="sample"))
    model.compile(optimizer="sgd", loss=RefinedLamGap("tl_align"), jit_compile=True)
    history = model.fit(images(8), np.arange(8) % K, batch_size=4, verbose=0)
    assert max(history.history["loss"]) < 2.0, history.history


def test_tap_config_round_trip():
    tap = kmix.models.attention_tap(vit_backbone(), attention="patch", name="tap")
    clone = kmix.models.AttentionTap.from_config(tap.get_config())
    assert clone.attention == "patch" and clone.num_prefix_tokens == 1
    assert clone.get_config()["backbone"]["config"] == tap.get_config()["backbone"]["config"]


@pytest.mark.slow
def test_tapped_backbone_with_tl_align_under_mirrored_strategy(two_cpus):
    with two_cpus.scope():
        model = tapped_model("all", kmix.layers.TokenLabelAlignment(),
                             kmix.layers.CutMix(patch_size=P, num_classes=K, seed=0, lam_scope="sample"))
        model.compile(optimizer="sgd", loss=RefinedLamGap("tl_align"), jit_compile=False)
    history = model.fit(images(16), np.arange(16) % K, batch_size=8, verbose=0)
    assert max(history.history["loss"]) < 2.0, history.history
    assert_replicas_in_sync(two_cpus, model)
