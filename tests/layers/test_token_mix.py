"""TokenMix: the layer, teacher-map targets, training (the ops: tests/ops/test_token_masks.py, test_teacher_targets.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.ops.teacher_targets import tokenmix_targets
from kmix.models.mixing_mixin import step_strategy_for
from kmix.models.teacher_targets_step import TeacherTargetsStep
from tests.vectors import array
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot
from tests.vectors import load

DATA = load("tokenmix")


# ----------------------------------------------------------------------
# The official run: the loss and the switch branch
# ----------------------------------------------------------------------
def test_binary_crossentropy_on_dense_targets_is_the_official_loss():
    # timm BinaryCrossEntropy with a dense target: mean over B x K of BCE-with-logits.
    case = DATA["cases"][0]
    target = array(case["outputs"]["target"], np.float32)
    logits = np.random.default_rng(0).normal(size=target.shape).astype(np.float32)
    reference = np.mean(np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits))))
    got = keras.losses.BinaryCrossentropy(from_logits=True)(target, logits)
    np.testing.assert_allclose(float(got), reference, rtol=1e-5)


def test_mixup_branch_vector_is_what_mixup_gives():
    # The official switch branch is plain MixUp: kmix.ops.mix_labels with the flip partner.
    branch = DATA["mixup_branch"]
    labels = np.asarray(branch["inputs"]["hard_labels"])
    lam = branch["outputs"]["lam_a"]
    plan = kmix.MixPlan(tf.constant(np.arange(4)[::-1].copy(), tf.int32), tf.fill([4, 1, 1, 1], lam),
                        tf.fill([4], np.float32(lam)))
    got = kmix.ops.mix_labels(labels, plan, num_classes=branch["inputs"]["num_classes"],
                              label_smoothing=branch["inputs"]["label_smoothing"])
    np.testing.assert_allclose(got.numpy(), array(branch["outputs"]["target"]), atol=1e-6)


# ----------------------------------------------------------------------
# The layer
# ----------------------------------------------------------------------
def _images(batch=6, size=16, seed=0):
    return np.random.default_rng(seed).random((batch, size, size, 3)).astype(np.float32)


@pytest.mark.parametrize("mask_type", ["block", "random"])
def test_one_token_mask_per_batch_with_the_official_count(mask_type):
    layer = kmix.layers.TokenMix(patch_size=4, mask_type=mask_type, minimum_tokens=2, seed=0)
    plan = layer.sample_plan(_images())
    tokens = kmix.ops.token_mask(plan.mask, 4).numpy()
    assert (tokens == tokens[:1]).all()  # the same mask for every row
    n_partner = 16 - tokens[0].sum()
    assert n_partner <= 10 and (mask_type == "block" or n_partner == 10)  # 16 // 2 + 2
    np.testing.assert_allclose(plan.lam.numpy(), 1 - n_partner / 16, rtol=1e-6)
    # Whole tokens: the pixel mask is constant on every 4x4 patch.
    pixels = plan.mask.numpy()[..., 0].reshape(6, 4, 4, 4, 4)
    assert (pixels == pixels[:, :, :1, :, :1]).all()


def test_per_sample_masks_and_drawn_ratios():
    layer = kmix.layers.TokenMix(patch_size=4, mask_type="random", lam_constant=None,
                                 minimum_tokens=0, lam_scope="sample", seed=0)
    plan = layer.sample_plan(_images(batch=12))
    tokens = kmix.ops.token_mask(plan.mask, 4).numpy()
    assert len({tuple(row) for row in tokens}) > 1
    assert len(set(np.round(plan.lam.numpy(), 4))) > 1


def test_mixed_pixels_come_from_the_row_or_its_partner_per_token():
    images = _images()
    layer = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, partner="flip", seed=4)
    plan = layer.sample_plan(images, seed=7)
    mixed = layer.mix_images(images, plan).numpy()
    own = plan.mask.numpy()
    expected = own * images + (1 - own) * images[::-1]
    np.testing.assert_allclose(mixed, expected, rtol=1e-6)


class TinyTeacher(keras.Model):
    """Score maps (B, 4, 4, K) on the 4x4 token grid of 16x16 images."""

    def __init__(self, num_classes=5, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.pool = keras.layers.AveragePooling2D(4)
        self.dense = keras.layers.Dense(num_classes, activation="softplus")

    def call(self, images):
        return self.dense(self.pool(images))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@pytest.mark.parametrize("faithful", [False, True])
def test_teacher_model_and_teacher_maps_give_the_content_targets(faithful):
    images, labels = _images(), np.array([0, 1, 2, 3, 4, 0])
    teacher = TinyTeacher()
    maps = teacher(images).numpy()
    common = dict(patch_size=4, minimum_tokens=2, num_classes=5, label_smoothing=0.1,
                  faithful_targets=faithful, seed=9)
    with_model = kmix.layers.TokenMix(teacher=teacher, **common)
    with_maps = kmix.layers.TokenMix(**common)
    twin = kmix.layers.TokenMix(**common)
    out_model = with_model({"images": images, "labels": labels})
    out_maps = with_maps({"images": images, "labels": labels, "teacher_maps": maps})
    plan = twin.sample_plan(images)
    partner = twin.partner_token_mask(plan, 16, 16)
    expected = tokenmix_targets(maps, labels, plan.index, partner, num_classes=5,
                                label_smoothing=0.1, faithful=faithful).numpy()
    np.testing.assert_allclose(out_model["labels"].numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(out_maps["labels"].numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(out_maps["images"].numpy(), twin.mix_images(images, plan).numpy(), rtol=1e-6)
    assert "teacher_maps" in out_maps
    # Content targets differ from area targets.
    area = kmix.ops.mix_labels(labels, plan, num_classes=5, label_smoothing=0.1).numpy()
    assert np.abs(out_model["labels"].numpy() - area).max() > 1e-3
    # The tuple form uses the teacher as well; training=False is the identity.
    x, y = kmix.layers.TokenMix(teacher=teacher, **common)(images, labels)
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-6)
    same = with_model({"images": images, "labels": labels}, training=False)
    np.testing.assert_array_equal(same["images"], images)
    np.testing.assert_array_equal(same["labels"], labels)


def test_teacher_targets_in_tf_data_and_under_xla():
    images, labels = _images(batch=8), np.arange(8) % 5
    teacher = TinyTeacher()
    layer = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=5, teacher=teacher, seed=1)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4).map(layer)
    for x, y in ds:
        assert x.shape == (4, 16, 16, 3) and y.shape == (4, 5)
        np.testing.assert_allclose(y.numpy().sum(-1), 1.0, atol=1e-6)
    fn = tf.function(lambda x, y, m: layer({"images": x, "labels": y, "teacher_maps": m}), jit_compile=True)
    out = fn(images, labels, teacher(images))
    np.testing.assert_allclose(out["labels"].numpy().sum(-1), 1.0, atol=1e-6)


def test_teacher_is_not_a_tracked_sublayer_and_the_config_round_trips():
    teacher = TinyTeacher()
    teacher(_images(batch=1))
    layer = kmix.layers.TokenMix(patch_size=4, mask_type="random", minimum_tokens=3, lam_constant=0.25,
                                 teacher=teacher, faithful_targets=True, num_classes=5, seed=2)
    assert not layer.weights
    config = layer.get_config()
    for key in ("patch_size", "mask_type", "minimum_tokens", "lam_constant", "teacher", "faithful_targets"):
        assert key in config
    clone = kmix.layers.TokenMix.from_config(config)
    assert isinstance(clone.teacher, TinyTeacher) and clone.teacher.num_classes == 5
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert restored.faithful_targets and restored.lam_constant == 0.25


keras.saving.register_keras_serializable("kmix_tests")(TinyTeacher)


# ----------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------
def test_errors():
    images = _images()
    with pytest.raises(ValueError, match=r"multiples of `patch_size` .* Received: patch_size=5 and images of size 16x16"):
        kmix.layers.TokenMix(patch_size=5, minimum_tokens=0)(images)
    with pytest.raises(ValueError, match=r"`minimum_tokens` must be smaller than the number of tokens N=16 .* Received: minimum_tokens=16"):
        kmix.layers.TokenMix(patch_size=4, minimum_tokens=16)(images)
    with pytest.raises(ValueError, match=r"`minimum_tokens` must be an int >= 0 .* Received: minimum_tokens=-1"):
        kmix.layers.TokenMix(minimum_tokens=-1)
    with pytest.raises(ValueError, match=r"`mask_type` must be one of \('block', 'random'\). Received: mask_type='box'"):
        kmix.layers.TokenMix(mask_type="box")
    with pytest.raises(ValueError, match=r"`lam_constant` must be None or a float in \[0, 1\]. Received: lam_constant=1.5"):
        kmix.layers.TokenMix(lam_constant=1.5)
    with pytest.raises(ValueError, match=r"`patch_size` must be an int >= 1. Received: patch_size=0"):
        kmix.layers.TokenMix(patch_size=0)
    with pytest.raises(TypeError, match=r"`teacher` must be a Keras model .* Received: teacher of type function"):
        kmix.layers.TokenMix(teacher=lambda x: x)
    layer = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=5)
    bad = np.zeros((6, 8, 8, 5), np.float32)
    with pytest.raises(ValueError, match=r"Teacher maps must have shape \(B, 4, 4, 5\).*Received: teacher_maps.shape=\(6, 8, 8, 5\)"):
        layer({"images": images, "labels": np.arange(6) % 5, "teacher_maps": bad})
    with pytest.raises(ValueError, match=r"Teacher maps must have shape \(B, 4, 4, 5\).*Received: teacher_maps.shape=\(6, 4, 4, 3\)"):
        layer({"images": images, "labels": np.arange(6) % 5, "teacher_maps": np.zeros((6, 4, 4, 3), np.float32)})
    wrong_teacher = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=5, teacher=TinyTeacher(num_classes=3))
    with pytest.raises(ValueError, match=r"Teacher maps must have shape \(B, 4, 4, 5\)"):
        wrong_teacher(images, np.arange(6) % 5)


# ----------------------------------------------------------------------
# Training a tiny ViT
# ----------------------------------------------------------------------
def _vit(mixer):
    return kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16, depth=2, num_heads=2,
                           mixer=mixer, seed=0)


@pytest.mark.slow
def test_trains_a_tiny_vit_under_xla():
    model = _vit(kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=3, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), jit_compile=True)
    images = _images(batch=16)
    history = model.fit(images, np.arange(16) % 3, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))


def test_teacher_targets_in_the_train_step_of_a_vit():
    teacher = TinyTeacher(num_classes=3)
    mixer = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=3, label_smoothing=0.1,
                                 teacher=teacher, partner="flip", seed=0)
    model = _vit(mixer)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=kmix.losses.MixupCrossentropy())
    images, labels = _images(batch=4), np.array([0, 1, 2, 1])
    model(images)
    metrics = model.train_step((tf.constant(images), tf.constant(labels)))
    record = kmix.step_record.get_record()
    plan = record.plans[0]
    expected_targets = tokenmix_targets(teacher(images), labels, plan.index,
                                        mixer.partner_token_mask(plan, 16, 16), label_smoothing=0.1)
    np.testing.assert_allclose(record.teacher_targets.numpy(), expected_targets.numpy(), atol=1e-6)
    logits = model(mixer.mix_images(images, plan), training=True).numpy()
    z = logits - logits.max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    expected = -(expected_targets.numpy() * log_p).sum(-1).mean()
    np.testing.assert_allclose(float(metrics["loss"]), expected, rtol=1e-5)
    kmix.step_record.clear_record()
    # Without a teacher the mixin's ordinary step runs.
    assert step_strategy_for(kmix.layers.TokenMix()) is None
    assert step_strategy_for(mixer) is TeacherTargetsStep


@pytest.mark.slow
def test_faithful_teacher_targets_train_with_binary_crossentropy_under_xla():
    mixer = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=3, label_smoothing=0.1,
                                 teacher=TinyTeacher(num_classes=3), faithful_targets=True, seed=0)
    model = _vit(mixer)
    model.compile(optimizer="sgd", loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=True)
    history = model.fit(_images(batch=16), np.arange(16) % 3, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"])) and "accuracy" in history.history


@pytest.mark.slow
def test_trains_under_mirrored_strategy_on_two_logical_cpus(two_cpus):
    with two_cpus.scope():
        model = kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16, depth=2, num_heads=2,
                                mixer=kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=3, seed=0),
                                seed=0)
        # (XLA is tested on one device: TF's XLA cannot read variables placed on
        # another logical CPU, a known TensorFlow limitation.)
        model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), jit_compile=False)
    images = np.random.default_rng(0).random((16, 16, 16, 3)).astype("float32")
    model(images[:1])
    before = trainable_snapshot(model)
    history = model.fit(images, np.arange(16) % 3, batch_size=8, epochs=1, verbose=0)
    assert all(np.isfinite(history.history["loss"])), history.history
    assert_replicas_in_sync(two_cpus, model, before)
    images = np.random.default_rng(1).random((16, 16, 16, 3)).astype("float32")
    with two_cpus.scope():
        teacher = keras.Sequential([keras.layers.AveragePooling2D(4), keras.layers.Dense(3, activation="softplus")])
        teacher(images[:1])  # a teacher's variables must exist before a distributed fit
        model = kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16, depth=2, num_heads=2,
                                mixer=kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=3,
                                                           teacher=teacher, seed=0), seed=0)
        model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    model(images[:1])
    before = trainable_snapshot(model)
    teacher_before = [w.numpy().copy() for w in teacher.weights]
    history = model.fit(images, np.arange(16) % 3, batch_size=8, epochs=1, verbose=0)
    assert all(np.isfinite(history.history["loss"])), history.history
    assert_replicas_in_sync(two_cpus, model, before)
    # The teacher is not trained.
    for w, b in zip(teacher.weights, teacher_before):
        np.testing.assert_array_equal(w.numpy(), b)
