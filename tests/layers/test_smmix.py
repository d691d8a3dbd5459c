"""SMMix: the paste (smmix.json), losses, layer contract, train step (the window ops: tests/ops/test_windows.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import step_record
from kmix.losses.smmix_loss import smmix_loss_terms
from kmix.ops.windows import smmix_windows
from kmix.ops.windows import window_token_mask
from tests.ops.test_windows import ATTN
from tests.ops.test_windows import B
from tests.ops.test_windows import CALLS
from tests.ops.test_windows import DATA
from tests.ops.test_windows import FLIP
from tests.ops.test_windows import G
from tests.ops.test_windows import IDS
from tests.ops.test_windows import REF
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot
from tests.vectors import array


# ----------------------------------------------------------------------
# The paste, labels and losses against the official run
# ----------------------------------------------------------------------
def _coded_images(patch=2):
    """Image i, token t is filled with the value 1000 * i + t (one channel)."""
    codes = 1000 * np.arange(B)[:, None] + np.arange(G * G)[None]
    grid = codes.reshape(B, G, G).astype(np.float32)
    return np.repeat(np.repeat(grid, patch, axis=1), patch, axis=2)[..., None]


def _decode(mixed, patch=2):
    codes = np.rint(mixed[:, ::patch, ::patch, 0]).astype(int).reshape(B, -1)
    return codes // 1000, codes % 1000


def _fixed_side_layer(side, **kwargs):
    ratio = (side + 0.5) / G  # int(14 * ratio) == side
    return kmix.layers.SMMix(patch_size=2, switch_prob=1.0, min_side_ratio=ratio, max_side_ratio=ratio,
                             partner="flip", **kwargs)


@pytest.mark.parametrize("side,outputs", CALLS, ids=IDS)
def test_the_layer_pastes_the_official_tokens(side, outputs):
    images = _coded_images()
    layer = _fixed_side_layer(side, seed=0)
    plan, shift = layer.sample_plan(images, attention=ATTN, return_shift=True)
    mixed = layer.mix_images(images, plan, shift).numpy()
    source_image, source_token = _decode(mixed)
    np.testing.assert_array_equal(source_image, array(outputs["source_image_index"]))
    np.testing.assert_array_equal(source_token, array(outputs["source_token_index"]))
    np.testing.assert_allclose(plan.lam.numpy(), (G * G - side * side) / (G * G), rtol=1e-6)
    np.testing.assert_array_equal(kmix.ops.token_mask(plan.mask, 2).numpy(), array(outputs["target_mask_a"]))
    # The dict call does the same (its seed draws the same plan) and mixes the labels by area.
    out = _fixed_side_layer(side, seed=0, num_classes=5)(
        {"images": images, "labels": np.array([0, 3, 1, 4]), "attention": ATTN})
    np.testing.assert_allclose(out["images"].numpy(), mixed, rtol=1e-6)


def test_mixed_targets_and_consistency_logits_of_the_official_call():
    inputs, outputs = DATA["official_call"]["inputs"], DATA["official_call"]["outputs"]
    lam = (196 - 36) / 196
    plan = kmix.MixPlan(tf.constant(FLIP, tf.int32), tf.fill([B, 1, 1, 1], lam), tf.fill([B], np.float32(lam)))
    labels = array(inputs["labels"])
    k, smoothing = inputs["num_classes"], inputs["label_smoothing"]
    got = kmix.ops.mix_labels(labels, plan, num_classes=k, label_smoothing=smoothing)
    np.testing.assert_allclose(got.numpy(), array(outputs["mixed_target"]), atol=1e-6)
    y = kmix.ops.one_hot_labels(labels, k, smoothing).numpy()
    np.testing.assert_allclose(y, array(outputs["target_target"]), atol=1e-6)
    np.testing.assert_allclose(y[FLIP], array(outputs["source_target"]), atol=1e-6)
    clean = array(inputs["clean_logits"], np.float32)
    # What SMMixLoss mixes: the clean logits with the plan.
    mixed_logits = kmix.ops.mix_images(clean[:, None, None, :], plan).numpy()[:, 0, 0]
    np.testing.assert_allclose(mixed_logits, array(outputs["mixed_prediction_logits"]), atol=1e-6)


def _official_record(smmix_rows=1.0, layer=None):
    inputs = DATA["official_call"]["inputs"]
    lam = (196 - 36) / 196
    plan = kmix.MixPlan(tf.constant(FLIP, tf.int32), tf.fill([B, 1, 1, 1], lam), tf.fill([B], np.float32(lam)))
    losses = DATA["losses"]["inputs"]
    layer = layer or kmix.layers.SMMix(patch_size=16, num_classes=5, label_smoothing=0.1)
    return step_record.StepRecord(
        plan, layer, 5, inputs["label_smoothing"], True,
        clean_logits=tf.constant(array(inputs["clean_logits"], np.float32)),
        target_logits=tf.constant(array(losses["target_result"], np.float32)),
        source_logits=tf.constant(array(losses["source_result"], np.float32)),
        smmix_rows=tf.fill([B], np.float32(smmix_rows)),
    )


def test_smmix_loss_matches_the_three_official_loss_lines():
    reference = DATA["losses"]["outputs"]
    inputs = DATA["official_call"]["inputs"]
    outputs = DATA["official_call"]["outputs"]
    losses = DATA["losses"]["inputs"]
    terms = smmix_loss_terms(
        array(losses["outputs"], np.float32), array(outputs["mixed_target"], np.float32),
        array(losses["target_result"], np.float32), array(outputs["target_target"], np.float32),
        array(losses["source_result"], np.float32), array(outputs["source_target"], np.float32),
        array(outputs["mixed_prediction_logits"], np.float32))
    np.testing.assert_allclose(terms["classification"].numpy().mean(), reference["loss_cls"], rtol=1e-5)
    np.testing.assert_allclose(0.5 * terms["fine"].numpy().mean(), reference["loss_fine"], rtol=1e-5)
    np.testing.assert_allclose(terms["consistency"].numpy().mean(), reference["loss_con"], rtol=1e-5)
    # The Keras loss reads the same from the step record (labels as given to fit).
    step_record.set_record(_official_record())
    try:
        got = kmix.losses.SMMixLoss()(array(inputs["labels"]), array(losses["outputs"], np.float32))
        np.testing.assert_allclose(float(got), reference["loss"], rtol=1e-5)
        # MixUp rows (the switch branch) get the mixed-label CE only.
        step_record.set_record(_official_record(smmix_rows=0.0))
        got = kmix.losses.SMMixLoss()(array(inputs["labels"]), array(losses["outputs"], np.float32))
        np.testing.assert_allclose(float(got), reference["loss_cls"], rtol=1e-5)
    finally:
        step_record.clear_record()


def test_smmix_loss_without_a_step_record_is_the_soft_crossentropy_and_round_trips():
    step_record.clear_record()
    logits = np.array([[2.0, 0.0, -1.0]], np.float32)
    got = kmix.losses.SMMixLoss()(np.array([0]).reshape(1, 1).astype(np.float32), logits)
    np.testing.assert_allclose(float(got), -np.log(np.exp(2) / np.exp([2, 0, -1]).sum()), rtol=1e-5)
    loss = kmix.losses.SMMixLoss(fine_weight=0.25, consistency_weight=2.0, label_smoothing=0.1)
    clone = kmix.losses.SMMixLoss.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    with pytest.raises(ValueError, match=r"`fine_weight` must be a float >= 0. Received: fine_weight=-1"):
        kmix.losses.SMMixLoss(fine_weight=-1)


# ----------------------------------------------------------------------
# Layer contract (SMMix needs attention, so it has its own table)
# ----------------------------------------------------------------------
def _batch(batch=6, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((batch, size, size, 3)).astype(np.float32), np.arange(batch) % 5,
            rng.random((batch, (size // 4) ** 2)).astype(np.float32))


def test_training_false_is_identity_and_same_seed_same_output():
    images, labels, attention = _batch()
    data = {"images": images, "labels": labels, "attention": attention}
    layer = kmix.layers.SMMix(patch_size=4, num_classes=5, seed=3)
    out = layer(data, training=False)
    np.testing.assert_array_equal(np.asarray(out["images"]), images)
    np.testing.assert_array_equal(np.asarray(out["labels"]), labels)
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
    a = kmix.layers.SMMix(patch_size=4, num_classes=5, seed=3)(data)
    b = layer(data)
    np.testing.assert_array_equal(a["images"].numpy(), b["images"].numpy())
    np.testing.assert_array_equal(a["labels"].numpy(), b["labels"].numpy())
    later = [layer(data)["images"].numpy() for _ in range(4)]
    assert any(not np.array_equal(x, b["images"].numpy()) for x in later)


def test_get_config_round_trips():
    layer = kmix.layers.SMMix(alpha=0.4, switch_prob=0.7, patch_size=4, min_side_ratio=0.3, max_side_ratio=0.6,
                              num_classes=5, label_smoothing=0.1, lam_scope="sample", partner="flip", seed=2)
    config = layer.get_config()
    for key in ("alpha", "switch_prob", "patch_size", "min_side_ratio", "max_side_ratio", "lam_scope", "partner"):
        assert key in config
    clone = kmix.layers.SMMix.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is kmix.layers.SMMix and restored.get_config() == config
    images, labels, attention = _batch()
    data = {"images": images, "labels": labels, "attention": attention}
    np.testing.assert_array_equal(layer(data)["images"].numpy(), clone(data)["images"].numpy())


@pytest.mark.parametrize("lam_scope", ["batch", "sample"])
def test_lambda_is_the_area_share_or_the_mixup_ratio(lam_scope):
    images, labels, attention = _batch(batch=12)
    layer = kmix.layers.SMMix(patch_size=4, num_classes=5, lam_scope=lam_scope, seed=1)
    assert layer.candidate_sides(4, 4) == (1, 2, 3)
    assert kmix.layers.SMMix().candidate_sides(14, 14) == tuple(range(3, 11))
    seen_window = seen_mixup = False
    for step in range(8):
        plan, shift = layer.sample_plan(images, attention=attention, seed=step, return_shift=True)
        lam = plan.lam.numpy()
        np.testing.assert_allclose(lam, plan.mask.numpy().mean(axis=(1, 2, 3)), rtol=1e-6)
        masks = plan.mask.numpy().reshape(12, -1)
        window = np.all((masks == 0) | (masks == 1), axis=1) & np.isin(np.round(16 * (1 - lam), 4), [1, 4, 9])
        seen_window |= window.any()
        mixup_rows = np.array([len(np.unique(m)) == 1 for m in plan.mask.numpy()])
        seen_mixup |= mixup_rows.any()
        if lam_scope == "batch":
            assert mixup_rows.all() or not mixup_rows.any()
            assert len(set(np.round(lam, 5))) == 1
        y = kmix.ops.mix_labels(labels, plan, num_classes=5)
        np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-6)
    assert seen_window and seen_mixup


def test_windows_are_chosen_on_the_attention():
    images, labels, _ = _batch(batch=2, size=16)
    attention = np.zeros((2, 16), np.float32)
    attention[0, 15] = 1.0  # image 0: most attention bottom-right, least top-left
    attention[1, 0] = 1.0   # image 1: most attention top-left, least bottom-right
    layer = kmix.layers.SMMix(patch_size=4, switch_prob=1.0, min_side_ratio=0.25, max_side_ratio=0.25,
                              partner="flip", seed=0)
    plan, shift = layer.sample_plan(images, attention=attention, return_shift=True)
    own = kmix.ops.token_mask(plan.mask, 4).numpy().reshape(2, 4, 4)
    assert own[0, 0, 0] == 0 and own[0].sum() == 15  # row 0 receives at its top-left...
    assert own[1, 0, 1] == 0 and own[1].sum() == 15  # row 1: first window of least attention
    mixed = layer.mix_images(images, plan, shift).numpy()
    np.testing.assert_allclose(mixed[0, :4, :4], images[1, :4, :4], rtol=1e-6)  # ...image 1's top-left
    np.testing.assert_allclose(mixed[1, :4, 4:8], images[0, 12:, 12:], rtol=1e-6)  # image 0's bottom-right


def test_compiles_under_xla_and_in_tf_data_channels_first_and_segmentation_masks():
    images, labels, attention = _batch(batch=8)
    layer = kmix.layers.SMMix(patch_size=4, switch_prob=1.0, num_classes=5, seed=0)
    fn = tf.function(lambda d: layer(d), jit_compile=True)
    seg = np.random.default_rng(1).integers(0, 3, (8, 16, 16, 1)).astype(np.int32)
    out = fn({"images": images, "labels": labels, "attention": attention, "segmentation_masks": seg})
    np.testing.assert_allclose(out["labels"].numpy().sum(-1), 1.0, rtol=1e-6)
    assert out["segmentation_masks"].dtype == tf.int32
    ds = tf.data.Dataset.from_tensor_slices({"images": images, "labels": labels, "attention": attention})
    for d in ds.batch(3).map(layer):
        assert d["images"].shape[1:] == (16, 16, 3)
    last = kmix.layers.SMMix(patch_size=4, num_classes=5, seed=5)(
        {"images": images, "labels": labels, "attention": attention})
    first = kmix.layers.SMMix(patch_size=4, num_classes=5, seed=5, data_format="channels_first")(
        {"images": images.transpose(0, 3, 1, 2), "labels": labels, "attention": attention})
    np.testing.assert_allclose(first["images"].numpy().transpose(0, 2, 3, 1), last["images"].numpy(), rtol=1e-6)


def test_layer_errors():
    images, labels, attention = _batch()
    layer = kmix.layers.SMMix(patch_size=4, num_classes=5)
    with pytest.raises(ValueError, match=r"SMMix chooses its windows from the model's attention.*Received: no attention"):
        layer(images, labels)
    with pytest.raises(ValueError, match=r"SMMix chooses its windows from the model's attention"):
        layer.sample_plan(images)
    with pytest.raises(ValueError, match=r"`attention` must have shape \(B, 16\).*Received: attention.shape=\(6, 9\)"):
        layer({"images": images, "labels": labels, "attention": attention[:, :9]})
    with pytest.raises(ValueError, match=r"multiples of `patch_size` .* Received: patch_size=5 and images of size 16x16"):
        kmix.layers.SMMix(patch_size=5)({"images": images, "attention": attention})
    with pytest.raises(ValueError, match=r"`switch_prob` must be a float in \[0, 1\]. Received: switch_prob=1.5"):
        kmix.layers.SMMix(switch_prob=1.5)
    with pytest.raises(ValueError, match=r"`min_side_ratio` must be a float in \(0, 1\]. Received: min_side_ratio=0"):
        kmix.layers.SMMix(min_side_ratio=0)
    with pytest.raises(ValueError, match=r"`min_side_ratio` must not exceed `max_side_ratio`. Received: min_side_ratio=0.8 and max_side_ratio=0.5"):
        kmix.layers.SMMix(min_side_ratio=0.8, max_side_ratio=0.5)
    with pytest.raises(ValueError, match=r"`patch_size` must be an int >= 1. Received: patch_size=0"):
        kmix.layers.SMMix(patch_size=0)


# ----------------------------------------------------------------------
# The train step on a tiny ViT
# ----------------------------------------------------------------------
def _vit(token_head=True, **mixer_kwargs):
    mixer = kmix.layers.SMMix(patch_size=4, num_classes=3, label_smoothing=0.1, seed=0, **mixer_kwargs)
    return kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16, depth=2, num_heads=2,
                           token_head=token_head, mixer=mixer, seed=0)


def _softmax_ce(logits, targets):
    z = logits - logits.max(-1, keepdims=True)
    return -(targets * (z - np.log(np.exp(z).sum(-1, keepdims=True)))).sum(-1)


def test_the_train_step_computes_the_official_loss_from_its_own_motivating_pass():
    model = _vit(switch_prob=1.0, partner="flip")
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=kmix.losses.SMMixLoss())
    images, _, _ = _batch(batch=4)
    labels = np.array([0, 1, 2, 1])
    model(images)
    metrics = model.train_step((tf.constant(images), tf.constant(labels)))
    record = step_record.get_record()
    plan = record.plan
    clean = model.forward(images, training=False, attention="patch")
    np.testing.assert_allclose(record.patch_attention.numpy(), clean["patch_attention"].numpy(), rtol=1e-5)
    np.testing.assert_allclose(record.clean_logits.numpy(), clean["logits"].numpy(), rtol=1e-5, atol=1e-6)
    # The windows are those of the clean attention.
    side = int(round(np.sqrt(16 * (1 - plan.lam.numpy()[0]))))
    target, source = smmix_windows(clean["patch_attention"], np.full(4, side), 4, 4, FLIP, (1, 2, 3))
    pasted = window_token_mask(target, np.full(4, side), 4, 4).numpy().reshape(4, -1)
    np.testing.assert_array_equal(1 - kmix.ops.token_mask(plan.mask, 4).numpy(), pasted)
    np.testing.assert_array_equal(record.shift.numpy(), (target - source).numpy() * 4)
    # Recompute the three terms with numpy (smmix_numpy_ref) from a fresh forward pass.
    mixed = model.mixer.mix_images(images, plan, record.shift)
    out = model.forward(mixed, training=True)
    tokens = out["tokens"].numpy()
    own = 1 - pasted
    z_tgt = model.token_head((tokens * own[..., None]).sum(1) / own.sum(1, keepdims=True)).numpy()
    z_src = model.token_head((tokens * pasted[..., None]).sum(1) / pasted.sum(1, keepdims=True)).numpy()
    lam = plan.lam.numpy()[:, None]
    y = REF.smoothed_one_hot(labels, 3, 0.1)
    z = clean["logits"].numpy()
    expected = REF.smmix_losses(out["logits"].numpy(), z_tgt, z_src, lam * y + (1 - lam) * y[FLIP], y, y[FLIP],
                                lam * z + (1 - lam) * z[FLIP])
    np.testing.assert_allclose(float(metrics["loss"]), expected[3], rtol=1e-4)
    step_record.clear_record()


def test_the_mixup_branch_trains_on_the_mixed_labels_only():
    model = _vit(switch_prob=0.0, partner="flip")
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=kmix.losses.SMMixLoss())
    images, _, _ = _batch(batch=4)
    labels = np.array([0, 1, 2, 1])
    model(images)
    metrics = model.train_step((tf.constant(images), tf.constant(labels)))
    plan = step_record.get_record().plan
    lam = plan.lam.numpy()[:, None]
    mixed = lam[:, :, None, None] * images + (1 - lam[:, :, None, None]) * images[FLIP]
    logits = model.forward(mixed, training=True)["logits"].numpy()
    y = REF.smoothed_one_hot(labels, 3, 0.1)
    expected = _softmax_ce(logits, lam * y + (1 - lam) * y[FLIP]).mean()
    np.testing.assert_allclose(float(metrics["loss"]), expected, rtol=1e-4)
    step_record.clear_record()


@pytest.mark.slow
def test_fit_under_xla_updates_the_token_head_and_keeps_metrics():
    model = _vit(switch_prob=1.0)
    model.compile(optimizer="sgd", loss=kmix.losses.SMMixLoss(), metrics=["accuracy"], jit_compile=True)
    images, _, _ = _batch(batch=16)
    before = [w.numpy().copy() for w in model.token_head.weights] if model.token_head.weights else None
    history = model.fit(images, np.arange(16) % 3, batch_size=8, epochs=2, verbose=0,
                        validation_data=(images, np.arange(16) % 3))
    assert all(np.isfinite(history.history["loss"])) and "accuracy" in history.history
    assert "val_loss" in history.history
    after = [w.numpy() for w in model.token_head.weights]
    assert before is None or any(np.abs(a - b).max() > 0 for a, b in zip(after, before))


def test_mixed_precision_train_step_keeps_float32_labels_and_finite_loss():
    keras.config.set_dtype_policy("mixed_float16")
    model = _vit(switch_prob=1.0)
    model.compile(optimizer="adam", loss=kmix.losses.SMMixLoss())
    images, _, _ = _batch(batch=4)
    model(images)
    metrics = model.train_step((tf.constant(images), tf.constant([0, 1, 2, 1])))
    record = step_record.get_record()
    assert record.plan.lam.dtype == tf.float32 and record.patch_attention.dtype == tf.float32
    assert np.isfinite(float(metrics["loss"]))
    step_record.clear_record()


def test_model_and_loss_errors_at_the_first_step():
    images = _batch(batch=8)[0]
    labels = np.arange(8) % 3
    model = _vit(token_head=False)
    model.compile(optimizer="adam", loss=kmix.losses.SMMixLoss())
    with pytest.raises(ValueError, match=r"SMMix needs a model that gives its patch attention .* token_head=True\). Received: model of type ViT with forward=yes and token_head=None"):
        model.fit(images, labels, batch_size=8, verbose=0)
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(inputs))
    plain = kmix.models.MixingModel(inputs, outputs, mixer=kmix.layers.SMMix(patch_size=4, num_classes=3))
    plain.compile(optimizer="adam", loss=kmix.losses.SMMixLoss())
    with pytest.raises(ValueError, match=r"Received: model of type MixingModel with forward=no and token_head=None"):
        plain.fit(images, labels, batch_size=8, verbose=0)
    model = _vit()
    model.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy())
    with pytest.raises(ValueError, match=r"trains with kmix.losses.SMMixLoss .* Received: loss="):
        model.fit(images, labels, batch_size=8, verbose=0)


@pytest.mark.slow
def test_trains_under_mirrored_strategy_on_two_logical_cpus(two_cpus):
    with two_cpus.scope():
        model = kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16, depth=2, num_heads=2,
                                token_head=True, seed=0,
                                mixer=kmix.layers.SMMix(patch_size=4, switch_prob=1.0, num_classes=3, seed=0))
        # (XLA is tested on one device: TF's XLA cannot read variables placed on
        # another logical CPU, a known TensorFlow limitation.)
        model.compile(optimizer="sgd", loss=kmix.losses.SMMixLoss(), metrics=["accuracy"])
    images = np.random.default_rng(0).random((16, 16, 16, 3)).astype("float32")
    model(images[:1])
    before = trainable_snapshot(model)
    history = model.fit(images, np.arange(16) % 3, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"])), history.history
    assert_replicas_in_sync(two_cpus, model, before)
    seeds = two_cpus.run(lambda: model._step_seed())
    assert len({tuple(s.numpy()) for s in two_cpus.experimental_local_results(seeds)}) == 2
