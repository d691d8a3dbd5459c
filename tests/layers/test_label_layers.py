"""TransMixLabels, ProgressiveAttentionLabels, TokenLabelAlignment through the mixin."""


import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import step_record
from kmix.losses.mixing_loss import MixingLoss
from kmix.losses.mixing_loss import soft_crossentropy
from tests.distributed_checks import assert_replicas_in_sync

K, H, P = 3, 16, 4


def data(batch=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((batch, H, H, 3)).astype("float32"), np.arange(batch) % K


def vit(mixer, label_layer, depth=2, **kwargs):
    model = kmix.models.ViT(image_size=H, patch_size=P, num_classes=K, dim=16, depth=depth,
                            num_heads=2, mixer=mixer, label_layer=label_layer, seed=0, **kwargs)
    # Freshly initialised attention is nearly uniform (then attention labels are
    # close to area labels); sharpen it so that the refinement is visible.
    for qkv in model.qkv:
        qkv.kernel.assign(qkv.kernel * 30.0)
    return model


def expected_lam(kind, record, y_true, logits):
    """What the step's lam must be, recomputed from the step's own attention."""
    area = record.area_lam
    tokens = kmix.ops.token_mask(record.plan.mask, P)
    if kind == "transmix":
        return kmix.ops.transmix_lambda(area, tokens, record.cls_attention)
    if kind == "pal":
        area_plan = record.plan._replace(lam=area)
        targets = kmix.ops.mix_labels(y_true, area_plan, num_classes=K,
                                      label_smoothing=record.label_smoothing)
        probs = tf.nn.softmax(tf.cast(logits, tf.float32))
        return kmix.ops.progressive_attention_lambda(area, tokens, record.cls_attention, targets, probs)
    return kmix.ops.tl_align_lambda(area, tokens, record.attentions)


class RefinedLamGap(MixingLoss):
    """Test loss: CE on the step's targets plus 1e3 * |record lam - recomputed refined lam|.

    Reads attention the ViT left in the record: if the label layer were ignored
    the keys would be missing (KeyError) and the lam would be the area lam."""

    def __init__(self, kind="transmix", log=None, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind
        self.log = log

    def call(self, y_true, y_pred):
        record = self.step_record()
        targets, record = self.mixed_targets(y_true, K)
        if record is None or not record.training:
            return soft_crossentropy(targets, y_pred)
        lam = record.plan.lam
        gap = tf.abs(lam - expected_lam(self.kind, record, y_true, y_pred))
        if self.log is not None:
            self.log.append({"lam": lam.numpy(), "area": record.area_lam.numpy(),
                             "gap": gap.numpy(), "targets": targets.numpy()})
        return soft_crossentropy(targets, y_pred) + 1e3 * gap


class SoftTargetLog(keras.losses.Loss):
    """A plain Keras loss (not a kmix loss): receives the mixed soft targets."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def call(self, y_true, y_pred):
        record = step_record.get_record()
        self.log.append({"targets": y_true.numpy(), "lam": record.plan.lam.numpy(),
                         "index": record.plan.index.numpy(), "area": record.area_lam.numpy()})
        return keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=True)


SETUPS = {
    "transmix": lambda: (kmix.layers.CutMix(num_classes=K, seed=1, lam_scope="sample"),
                         kmix.layers.TransMixLabels()),
    "pal": lambda: (kmix.layers.MaskMix(mask_patch_size=8, patch_size=P, num_classes=K, seed=1,
                                        label_smoothing=0.1),
                    kmix.layers.ProgressiveAttentionLabels()),
    "tl_align": lambda: (kmix.layers.CutMix(patch_size=P, num_classes=K, seed=1, lam_scope="sample"),
                         kmix.layers.TokenLabelAlignment()),
}


@pytest.mark.parametrize("kind", list(SETUPS))
def test_training_labels_are_the_refined_ones_eager(kind):
    mixer, label_layer = SETUPS[kind]()
    log = []
    model = vit(mixer, label_layer)
    model.compile(optimizer="sgd", loss=RefinedLamGap(kind, log), run_eagerly=True)
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(log) == 2
    mixed_steps = 0
    for step in log:
        assert step["gap"].max() < 1e-6
        mixed = step["area"] < 1.0  # a plan may keep every cell of a row
        if mixed.any():
            mixed_steps += 1
            # The refinement changed the labels (attention differs from area).
            assert np.abs(step["lam"] - step["area"])[mixed].max() > 1e-2
        else:
            np.testing.assert_allclose(step["lam"], 1.0)  # nothing mixed, nothing refined
    assert mixed_steps >= 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SETUPS))
def test_fit_under_xla_with_refined_labels(kind):
    mixer, label_layer = SETUPS[kind]()
    model = vit(mixer, label_layer, depth=2 if kind == "tl_align" else 1, drop_path_rate=0.1)
    model.compile(optimizer="sgd", loss=RefinedLamGap(kind), jit_compile=True)
    x, y = data(16)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    # CE alone is below log(3) + a margin; any lam gap would add 1e3 * gap.
    assert max(history.history["loss"]) < 2.0, history.history


def test_plain_keras_loss_sees_the_refined_soft_targets():
    mixer, label_layer = SETUPS["transmix"]()
    log = []
    model = vit(mixer, label_layer)
    model.compile(optimizer="sgd", loss=SoftTargetLog(log), run_eagerly=True)
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    step = log[0]
    onehot = np.eye(K)[y]
    lam = step["lam"][:, None]
    np.testing.assert_allclose(step["targets"], lam * onehot + (1 - lam) * onehot[step["index"]], atol=1e-6)
    assert np.abs(step["lam"] - step["area"]).max() > 1e-2


def test_random_mix_choice_rows_decide_per_row():
    mixer = kmix.layers.RandomMixChoice(
        [kmix.layers.MixUp(alpha=1.0), kmix.layers.CutMix(alpha=1.0)],
        choice_scope="sample", num_classes=K, seed=3)
    log = []
    model = vit(mixer, kmix.layers.TransMixLabels())
    model.compile(optimizer="sgd", loss=SoftTargetLog(log), run_eagerly=True)
    x, y = data(16)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    seen_blend = seen_cut = False
    for step in log:
        record_rows = np.isclose(step["lam"], step["area"], atol=1e-7)
        assert record_rows.any() and (~record_rows).any(), step  # both kinds of rows this batch
    # Which rows were MixUp rows: the plan mask is constant over the image.
    plan = mixer.sample_plan(tf.zeros([16, H, H, 3]), seed=tf.constant([5, 6]))
    constant = np.ptp(plan.mask.numpy().reshape(16, -1), axis=1) == 0
    attn = tf.random.uniform([16, 16], seed=1)
    lam = kmix.layers.TransMixLabels().refine_lam(plan, {"cls_attention": attn}, mixer=mixer).numpy()
    expected = kmix.ops.transmix_lambda(plan.lam, kmix.ops.token_mask(plan.mask, P), attn).numpy()
    for row in range(16):
        blend = plan.choice.numpy()[row] == 0
        seen_blend |= blend
        seen_cut |= not blend
        np.testing.assert_allclose(lam[row], plan.lam.numpy()[row] if blend else expected[row], atol=1e-6)
        if blend:
            assert constant[row]
    assert seen_blend and seen_cut


def test_refine_mixers_restricts_the_refined_rows():
    mixer = kmix.layers.RandomMixChoice(
        [kmix.layers.MaskMix(mask_patch_size=8, patch_size=P), kmix.layers.CutMix()],
        choice_scope="sample", num_classes=K)
    plan = mixer.sample_plan(tf.zeros([16, H, H, 3]), seed=tf.constant([1, 2]))
    attn = tf.random.uniform([16, 16], seed=1)
    probs = tf.nn.softmax(tf.random.normal([16, K], seed=2))
    targets = tf.one_hot(tf.range(16) % K, K)
    layer = kmix.layers.ProgressiveAttentionLabels(refine_mixers=["MaskMix"])
    outputs = {"cls_attention": attn, "logits": tf.math.log(probs)}
    lam = layer.refine_lam(plan, outputs, targets=targets, mixer=mixer).numpy()
    # The per-row choice given the old way (`aux`, kept for one release) is the same.
    old = layer.refine_lam(plan._replace(choice=None), outputs, targets=targets, mixer=mixer,
                           aux={"choice": plan.choice}).numpy()
    np.testing.assert_array_equal(old, lam)
    full = kmix.ops.progressive_attention_lambda(
        plan.lam, kmix.ops.token_mask(plan.mask, P), attn, targets, probs).numpy()
    choice = plan.choice.numpy()
    assert (choice == 0).any() and (choice == 1).any()
    np.testing.assert_allclose(lam[choice == 0], full[choice == 0], atol=1e-5)
    np.testing.assert_allclose(lam[choice == 1], plan.lam.numpy()[choice == 1])


def test_mixup_keeps_area_labels():
    mixer = kmix.layers.MixUp(num_classes=K)
    plan = mixer.sample_plan(tf.zeros([4, H, H, 3]), seed=tf.constant([1, 2]))
    for layer, outputs in [
        (kmix.layers.TransMixLabels(), {"cls_attention": tf.random.uniform([4, 16])}),
        (kmix.layers.TokenLabelAlignment(), {"attentions": tf.random.uniform([2, 4, 17, 17])}),
    ]:
        np.testing.assert_array_equal(layer.refine_lam(plan, outputs, mixer=mixer), plan.lam)


def test_label_layers_as_keras_layers_and_config_round_trip():
    plan = kmix.layers.CutMix(patch_size=P).sample_plan(np.zeros((4, H, H, 3), "float32"), seed=0)
    attn = tf.random.uniform([4, 16])
    layer = kmix.layers.TransMixLabels(patch_size=P, refine_mixers=["CutMix"], name="tm")
    np.testing.assert_allclose(layer(plan, {"cls_attention": attn}),
                               kmix.ops.transmix_lambda(plan.lam, kmix.ops.token_mask(plan.mask, P), attn))
    for obj in (layer, kmix.layers.ProgressiveAttentionLabels(from_logits=False),
                kmix.layers.TokenLabelAlignment(patch_size=2)):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
        assert type(clone) is type(obj) and clone.get_config() == obj.get_config()
    assert {"patch_size", "refine_mixers", "name"} <= set(layer.get_config())
    assert "from_logits" in kmix.layers.ProgressiveAttentionLabels().get_config()


def test_vit_with_label_layer_saves_and_loads(tmp_path):
    mixer, label_layer = SETUPS["tl_align"]()
    model = vit(mixer, label_layer)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.label_layer, kmix.layers.TokenLabelAlignment)


def test_evaluate_and_predict_do_not_refine():
    mixer, label_layer = SETUPS["transmix"]()
    model = vit(mixer, label_layer)
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), jit_compile=False)
    x, y = data()
    logits = model.predict(x, verbose=0)
    loss = model.evaluate(x, y, verbose=0)
    expected = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True).numpy().mean()
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


# ----------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------
def test_model_that_cannot_give_attention_raises_at_the_first_step():
    inputs = keras.Input((H, H, 3))
    outputs = keras.layers.Dense(K)(keras.layers.GlobalAveragePooling2D()(inputs))
    model = kmix.models.MixingModel(inputs, outputs, mixer=kmix.layers.CutMix(num_classes=K),
                                    label_layer=kmix.layers.TransMixLabels())
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), run_eagerly=True)
    with pytest.raises(ValueError, match=r"The label layer TransMixLabels needs the attention of the training forward pass \('cls_attention'\), and this model \(MixingModel\) cannot give attention\..*Received: model outputs logits only"):
        model.fit(*data(), verbose=0)


def test_functional_model_with_a_dict_output_gives_attention():
    inputs = keras.Input((H, H, 3))
    tokens = keras.layers.Reshape((16, 48))(
        keras.layers.Lambda(lambda t: tf.nn.space_to_depth(t, P))(inputs))
    scores = keras.layers.Softmax()(keras.layers.Dense(1)(tokens)[..., 0])
    logits = keras.layers.Dense(K)(keras.layers.GlobalAveragePooling1D()(tokens))
    model = kmix.models.MixingModel(
        inputs, {"logits": logits, "cls_attention": scores},
        mixer=kmix.layers.CutMix(num_classes=K, seed=0, lam_scope="sample"),
        label_layer=kmix.layers.TransMixLabels())
    log = []
    model.compile(optimizer="sgd", loss=RefinedLamGap("transmix", log), metrics=["accuracy"], run_eagerly=True)

    history = model.fit(*data(), verbose=0)
    assert log and log[0]["gap"].max() < 1e-6 and np.abs(log[0]["lam"] - log[0]["area"]).max() > 1e-2
    assert "accuracy" in history.history


def test_patch_size_that_disagrees_with_the_attention():
    mixer = kmix.layers.CutMix(num_classes=K, seed=0)
    model = vit(mixer, kmix.layers.TransMixLabels(patch_size=8))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), run_eagerly=True)
    with pytest.raises(ValueError, match=r"`token_mask` must have one value per patch token of `cls_attention` \(16 tokens\), or 1 for a blend\. Received: token_mask.shape=\(None, 4\)|token_mask.shape=\(\d+, 4\)"):
        model.fit(*data(), verbose=0)


def test_attention_with_prefix_tokens_cannot_be_inferred():
    plan = kmix.layers.CutMix().sample_plan(np.zeros((2, H, H, 3), "float32"), seed=0)
    with pytest.raises(ValueError, match=r"The attention has 17 patch tokens, which does not tile 16x16 images with square patches\..*prefix"):
        kmix.layers.TransMixLabels().refine_lam(plan, {"cls_attention": tf.ones([2, 17])})


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: kmix.layers.TransMixLabels(patch_size=0), ValueError, r"`patch_size` must be None or an int >= 1\. Received: patch_size=0"),
        (lambda: kmix.layers.TokenLabelAlignment(refine_mixers="CutMix"), TypeError, r"`refine_mixers` must be None or a list of mixer class names.*Received: refine_mixers='CutMix'"),
        (lambda: kmix.layers.ProgressiveAttentionLabels(from_logits="yes"), TypeError, r"`from_logits` must be a bool\. Received: from_logits='yes'"),
        (lambda: vit(None, kmix.layers.TransMixLabels()), ValueError, r"`label_layer` refines the labels of mixed batches and needs a `mixer`\. Received: label_layer=TransMixLabels and mixer=None"),
        (lambda: vit(kmix.layers.CutMix(), keras.layers.Dense(2)), TypeError, r"`label_layer` must be a kmix attention-guided label layer .* Received: label_layer of type Dense"),
    ],
)
def test_constructor_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_mixed_precision_trains_on_float32_refined_labels():
    keras.config.set_dtype_policy("mixed_float16")
    log = []
    mixer, label_layer = SETUPS["tl_align"]()
    model = vit(mixer, label_layer, depth=1)
    model.compile(optimizer="sgd", loss=RefinedLamGap("tl_align", log), run_eagerly=True)
    model.fit(*data(), verbose=0)
    assert log[0]["lam"].dtype == np.float32 and log[0]["gap"].max() < 1e-6


def test_label_layer_with_a_mixer_that_runs_its_own_step_raises():
    model = vit(kmix.layers.SMMix(num_classes=K), kmix.layers.TransMixLabels(), token_head=True)
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), run_eagerly=True)
    with pytest.raises(ValueError, match=r"The mixer SMMix runs a train step of its own and makes its own labels; it cannot be combined with a `label_layer`\. Received: label_layer=TransMixLabels"):
        model.fit(*data(), verbose=0)


def test_label_layer_with_a_clean_logits_loss_raises():
    class NeedsClean(MixingLoss):
        needs_clean_logits = True

        def call(self, y_true, y_pred):
            return tf.reduce_sum(y_pred, -1)

    model = vit(kmix.layers.CutMix(num_classes=K), kmix.layers.TransMixLabels())
    model.compile(optimizer="sgd", loss=NeedsClean(), run_eagerly=True)
    with pytest.raises(ValueError, match=r"ViT cannot combine a `label_layer` with a loss that needs clean logits \(RankMixup\).*Received: label_layer=TransMixLabels"):
        model.fit(*data(), verbose=0)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(two_cpus):
    x, y = data(16)
    for kind in SETUPS:
        with two_cpus.scope():
            mixer, label_layer = SETUPS[kind]()
            model = vit(mixer, label_layer, depth=1, drop_path_rate=0.1)
            # XLA is tested on one device (test_fit_under_xla_with_refined_labels):
            # TF cannot jit-compile a step that reads per-replica variables.
            model.compile(optimizer="sgd", loss=RefinedLamGap(kind), jit_compile=False)
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert max(history.history["loss"]) < 2.0, (kind, history.history)
        assert_replicas_in_sync(two_cpus, model)
