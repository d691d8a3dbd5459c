"""SnapMix in MixingModel: the model's own CAMs (the official get_spm), XLA, MirroredStrategy, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import step_record
from kmix.models.snap_mix_step import SnapMixStep
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot
from tests.vectors import array
from tests.vectors import load

CASE = load("snapmix")["cases"][0]  # 16x16, two channels, 3 classes


def official_model(mixer, **names):
    """The json's tiny model (conv 4/4 -> average pool -> Linear), in Keras."""
    inputs = keras.Input((16, 16, 2))
    features = keras.layers.Conv2D(5, 4, strides=4, name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    logits = keras.layers.Dense(3, name="classifier")(pooled)
    model = kmix.models.MixingModel(inputs, logits, mixer=mixer)
    model.get_layer("features").set_weights([
        np.transpose(array(CASE["conv_kernel"], np.float32), (2, 3, 1, 0)),
        array(CASE["conv_bias"], np.float32)])
    model.get_layer("classifier").set_weights([
        array(CASE["dense_kernel"], np.float32).T, array(CASE["dense_bias"], np.float32)])
    return model


def images_and_labels():
    return (np.transpose(array(CASE["images"], np.float32), (0, 2, 3, 1)),
            np.array(CASE["labels"], np.int32))


def test_the_step_mixes_with_the_official_cams_of_the_model_itself():
    mixer = kmix.layers.SnapMix(num_classes=3, seed=0)
    model = official_model(mixer)
    images, labels = images_and_labels()
    seed = tf.constant([3, 4], tf.int32)
    strategy = SnapMixStep(model, mixer)
    strategy.check()
    mixed, targets = strategy.mix(tf.constant(images), tf.constant(labels), seed)
    plan = mixer.sample_plan(images, seed=seed, labels=labels)
    # The targets equal those from the official get_spm maps, for this plan.
    expected = mixer.mixed_targets(array(CASE["cams"], np.float32), plan, labels)
    np.testing.assert_allclose(targets.numpy(), expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(mixed.numpy(), mixer.mix_images(images, plan).numpy())
    record = step_record.get_record()
    assert record.plans[0] is not None and float(tf.reduce_min(record.plan.lam)) == 1.0
    step_record.clear_record()
    # Layers found by name give the same view.
    named = kmix.layers.SnapMix(num_classes=3, seed=0, feature_layer="features", classifier_layer="classifier")
    _, named_targets = SnapMixStep(model, named).mix(tf.constant(images), tf.constant(labels), seed)
    step_record.clear_record()
    np.testing.assert_allclose(named_targets.numpy(), targets.numpy(), atol=1e-7)


def test_fit_with_jit_compile_trains_on_the_weighted_targets():
    model = official_model(kmix.layers.SnapMix(num_classes=3, seed=1))
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=True)
    images, labels = images_and_labels()
    before = trainable_snapshot(model)
    history = model.fit(images, labels, batch_size=6, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and "accuracy" in history.history
    assert any(not np.array_equal(a, b) for a, b in zip(before, trainable_snapshot(model)))


@pytest.mark.slow
def test_mirrored_strategy_keeps_the_replicas_in_sync(two_cpus):
    images, labels = images_and_labels()
    with two_cpus.scope():
        model = official_model(kmix.layers.SnapMix(num_classes=3, seed=2))
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=kmix.losses.MixupCrossentropy())
    before = trainable_snapshot(model)
    history = model.fit(np.concatenate([images, images]), np.concatenate([labels, labels]),
                        batch_size=12, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert_replicas_in_sync(two_cpus, model, before)


def test_first_step_errors():
    images, labels = images_and_labels()
    inputs = keras.Input((16, 16, 2))
    flat = keras.layers.Flatten()(keras.layers.Conv2D(5, 4, strides=4)(inputs))
    model = kmix.models.MixingModel(inputs, keras.layers.Dense(3)(flat),
                                    mixer=kmix.layers.SnapMix(num_classes=3))
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match=r"SnapMix found no classifier in the model"):
        model.fit(images, labels, epochs=1, verbose=0)
    model = official_model(kmix.layers.SnapMix(num_classes=3, feature_layer="backbone"))
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match=r"`feature_layer` names no layer of the model.*Received: feature_layer='backbone'"):
        model.fit(images, labels, epochs=1, verbose=0)
    model = official_model(kmix.layers.SnapMix(num_classes=4))
    with pytest.raises(ValueError, match=r"has 3 classes, the mixer num_classes=4"):
        SnapMixStep(model, model.mixer).check()
