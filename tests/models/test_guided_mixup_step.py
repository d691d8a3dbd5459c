"""GuidedMixupStep: MixingModel trains on the official 'guided-ap' (input-gradient saliency) mixes."""

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import step_record
from kmix.models.guided_mixup_step import GuidedMixupStep
from kmix.models.mixing_mixin import step_strategy_for
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot
from tests.vectors import VECTORS
from tests.vectors import array
from tests.vectors import load

DATA = load("guidedmixup_ap")


def _numpy_ref():
    spec = importlib.util.spec_from_file_location(
        "guidedmixup_ap_numpy_ref", VECTORS / "guidedmixup_ap_numpy_ref.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_model(case, mixer):
    """The json's tiny model (conv 3x3 -> BatchNorm -> ReLU -> mean -> Linear), in Keras."""
    _, channels, height, width = case["shape"]
    inputs = keras.Input((height, width, channels))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
    logits = keras.layers.Dense(case["num_classes"], name="fc")(x)
    model = kmix.models.MixingModel(inputs, logits, mixer=mixer)
    model.get_layer("conv").set_weights([
        np.transpose(array(case["conv_kernel"], np.float32), (2, 3, 1, 0)),
        array(case["conv_bias"], np.float32)])
    model.get_layer("bn").set_weights([
        array(case["bn_gamma"], np.float32), array(case["bn_beta"], np.float32),
        np.zeros(4, np.float32), np.ones(4, np.float32)])
    model.get_layer("fc").set_weights([
        array(case["dense_kernel"], np.float32).T, array(case["dense_bias"], np.float32)])
    return model


def images_and_labels(case):
    images = array(case["pixels"]).astype(np.float32) / 255.0
    return np.transpose(images, (0, 2, 3, 1)), np.array(case["labels"], np.int32)


def test_the_numpy_restatement_reproduces_the_json():
    assert _numpy_ref().main() == 0


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["name"])
def test_the_step_mixes_as_the_official_guided_ap(case):
    mixer = kmix.layers.GuidedMixup(saliency="gradient", num_classes=case["num_classes"],
                                    blur_sigma=case["blur_sigma"],
                                    label_smoothing=case["label_smoothing"], seed=0)
    model = official_model(case, mixer)
    # A plain Keras loss (one-hot targets) and a kmix loss (identity plan) give the same maps.
    loss = (kmix.losses.MixupCrossentropy() if case["label_smoothing"]
            else keras.losses.CategoricalCrossentropy(from_logits=True))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    assert step_strategy_for(mixer) is GuidedMixupStep
    images, labels = images_and_labels(case)
    step = GuidedMixupStep(model, mixer)
    step.check()
    before = trainable_snapshot(model)
    maps = step.saliency_maps(tf.constant(images), tf.constant(labels))
    np.testing.assert_allclose(maps.numpy(), array(case["saliency"]), rtol=1e-4,
                               atol=1e-5 * np.abs(array(case["saliency"])).max())
    # The clean pass runs in training mode (as the official model.train()):
    # batch statistics, moving statistics updated (torch's running variance is
    # unbiased, Keras's biased); and it updates no weight.
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), array(case["running_mean"]), rtol=1e-4, atol=1e-7)
    n = np.prod(case["shape"]) / case["shape"][1]
    np.testing.assert_allclose((bn.moving_variance.numpy() - 0.9) * n / (n - 1) + 0.9,
                               array(case["running_var"]), rtol=1e-5)
    for a, b in zip(before, trainable_snapshot(model)):
        np.testing.assert_array_equal(a, b)

    mixed, targets = step.mix(tf.constant(images), tf.constant(labels), tf.constant([1, 2]))
    plan = step_record.get_record().plan
    step_record.clear_record()
    assert plan.index.numpy().tolist() == case["index"]
    np.testing.assert_allclose(plan.mask.numpy()[..., 0], array(case["mask"]), atol=5e-6)
    np.testing.assert_allclose(plan.lam.numpy(), array(case["lam"]), atol=1e-6)
    np.testing.assert_allclose(1.0 - plan.lam.numpy(), array(case["lam_partner"]), atol=1e-6)
    np.testing.assert_allclose(mixed.numpy().transpose(0, 3, 1, 2)[:, :, :4, :4],
                               array(case["mixed_corner"]), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(mixed.numpy().sum((1, 2, 3)), array(case["mixed_row_sums"]), rtol=1e-5)
    np.testing.assert_array_equal(targets.numpy(), labels)


def test_fit_with_jit_compile_and_the_official_mix_probability():
    case = DATA["cases"][0]
    model = official_model(case, kmix.layers.GuidedMixup(
        saliency="gradient", num_classes=case["num_classes"], probability=0.8, seed=1))
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=True)
    images, labels = images_and_labels(case)
    before = trainable_snapshot(model)
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and "accuracy" in history.history
    assert any(not np.array_equal(a, b) for a, b in zip(before, trainable_snapshot(model)))


@pytest.mark.slow
def test_mirrored_strategy_keeps_the_replicas_in_sync(two_cpus):
    case = DATA["cases"][0]
    images, labels = images_and_labels(case)
    with two_cpus.scope():
        model = official_model(case, kmix.layers.GuidedMixup(
            saliency="gradient", num_classes=case["num_classes"], seed=2))
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=kmix.losses.MixupCrossentropy())
    before = trainable_snapshot(model)
    history = model.fit(np.concatenate([images, images]), np.concatenate([labels, labels]),
                        batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert_replicas_in_sync(two_cpus, model, before)


def test_first_step_errors():
    case = DATA["cases"][0]
    images, labels = images_and_labels(case)
    mixer = kmix.layers.GuidedMixup(saliency="gradient", num_classes=case["num_classes"])
    model = official_model(case, mixer)
    model.compile(optimizer="sgd", loss=kmix.losses.RankMixupLoss())
    with pytest.raises(ValueError, match=r"cannot train with a loss that compares clean and mixed.*Received: loss=RankMixupLoss"):
        model.fit(images, labels, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"compile the model with a loss. Received: loss=None"):
        GuidedMixupStep(official_model(case, mixer), mixer).check()
    # Only the gradient saliency needs the step; the spectral residual mixes from the images.
    assert step_strategy_for(kmix.layers.GuidedMixup()) is None
