"""MixingModel / MixingMixin: in-graph mixing inside fit."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import step_record
from kmix.losses.mixing_loss import MixingLoss
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot

K, H = 4, 16


def colour_batch(batch=8, offset=0):
    """Image i is filled with the one-hot colour of its class, so the global
    average of a mixed image is exactly the share of each class's pixels."""
    labels = (np.arange(batch) + offset) % K
    images = np.broadcast_to(
        np.eye(K, dtype=np.float32)[labels][:, None, None, :], (batch, H, H, K)
    ).copy()
    return images, labels


class PixelShareGap(MixingLoss):
    """Test loss: |mixed targets - pixel shares| per row. Zero exactly when the
    labels were mixed with the same plan as the images the model saw."""

    def call(self, y_true, y_pred):
        targets, record = self.mixed_targets(y_true, y_pred.shape[-1])
        assert targets.dtype == tf.float32
        if record is not None:
            assert record.plan.lam.dtype == tf.float32
        return tf.reduce_sum(tf.abs(targets - tf.cast(y_pred, tf.float32)), axis=-1)


def share_model(mixer, trainable=False):
    inputs = keras.Input((H, H, K))
    shares = keras.layers.GlobalAveragePooling2D()(inputs)
    if trainable:  # a trainable weight that never changes the output
        shares = shares + 0.0 * keras.layers.Dense(K)(shares)
    return kmix.models.MixingModel(inputs, shares, mixer=mixer)


MIXERS = {
    "CutMix": lambda: kmix.layers.CutMix(num_classes=K, seed=1, lam_scope="sample"),
    "MixUp": lambda: kmix.layers.MixUp(alpha=1.0, num_classes=K, seed=1, lam_scope="sample"),
    "RandomMixChoice": lambda: kmix.layers.RandomMixChoice(
        [kmix.layers.MixUp(), kmix.layers.ResizeMix(), kmix.layers.MaskMix(mask_patch_size=4, patch_size=2)],
        choice_scope="sample", num_classes=K, seed=1),
}


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("name", list(MIXERS))
def test_labels_follow_the_pixels_in_the_train_step(name, jit):
    images, labels = colour_batch(16)
    model = share_model(MIXERS[name](), trainable=True)
    model.compile(optimizer="sgd", loss=PixelShareGap(), jit_compile=jit)
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert max(history.history["loss"]) < 1e-5


def test_training_actually_mixes():
    images, labels = colour_batch(16)
    model = share_model(MIXERS["CutMix"]())
    model.compile(loss=keras.losses.MeanAbsoluteError())
    # A plain Keras loss gets the mixed soft targets: MAE against the pixel
    # shares is zero, while the unmixed one-hot labels are far from them.
    assert model.train_on_batch(images, labels) < 1e-6
    mixed = model.mixer(images, labels)  # same kind of draw, outside the model
    assert np.abs(mixed[1].numpy() - np.eye(K)[labels]).max() > 0.05


@pytest.mark.parametrize("one_hot", [False, True])
def test_sample_weight_validation_callbacks_and_steps_per_execution(one_hot):
    images, labels = colour_batch(24)
    y = np.eye(K, dtype=np.float32)[labels] if one_hot else labels
    model = share_model(MIXERS["CutMix"](), trainable=True)
    model.compile(optimizer="adam", loss=PixelShareGap(), steps_per_execution=3)
    seen = []
    callback = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs))
    history = model.fit(
        images, y, sample_weight=np.linspace(0.5, 2, 24), batch_size=4, epochs=2,
        validation_data=colour_batch(8, offset=1), callbacks=[callback], verbose=0,
    )
    assert len(seen) == 2 and "val_loss" in seen[0]
    assert max(history.history["loss"]) < 1e-5
    assert max(history.history["val_loss"]) < 1e-6


def test_evaluate_and_predict_never_mix():
    images, labels = colour_batch(8)
    model = share_model(MIXERS["CutMix"]())
    model.compile(loss=keras.losses.MeanAbsoluteError())
    # Unmixed colour images: shares are the one-hot labels.
    assert model.evaluate(images, labels, verbose=0) < 1e-7
    np.testing.assert_allclose(model.predict(images, verbose=0), np.eye(K)[labels], atol=1e-6)


def test_metrics_are_computed_against_the_original_labels():
    images, labels = colour_batch(8)
    labels = np.array([3, 3, 3, 3, 1, 1, 1, 1])
    model = share_model(MIXERS["CutMix"](), trainable=True)
    label_mean = keras.metrics.MeanMetricWrapper(
        lambda y_true, y_pred: tf.reduce_mean(tf.cast(y_true, tf.float32), axis=-1), name="label_mean")
    model.compile(optimizer="sgd", loss=PixelShareGap(), metrics=[label_mean])
    history = model.fit(images, labels, batch_size=8, verbose=0)
    # Original class ids (mean 2.0); mixed soft targets would average 1/K.
    assert history.history["label_mean"][0] == pytest.approx(2.0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_labels_and_lambdas_float32(policy):
    keras.config.set_dtype_policy(policy)
    images, labels = colour_batch(8)
    model = share_model(MIXERS["CutMix"](), trainable=True)
    model.compile(optimizer="sgd", loss=PixelShareGap())
    loss = model.fit(images, labels, verbose=0).history["loss"][0]
    assert loss < 1e-2  # shares computed in low precision


def test_save_load_and_keep_training(tmp_path):
    images, labels = colour_batch(8)
    model = share_model(MIXERS["RandomMixChoice"](), trainable=True)
    model.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy(from_logits=False))
    model.fit(images, labels, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded) is kmix.models.MixingModel
    assert loaded.mixer.get_config() == model.mixer.get_config()
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    loaded.compile(optimizer="adam", loss=PixelShareGap())
    assert loaded.fit(images, labels, verbose=0).history["loss"][0] < 1e-5


def test_runs_are_reproducible_and_steps_draw_new_plans():
    images, labels = colour_batch(8)

    def run():
        model = share_model(MIXERS["CutMix"]())
        model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(from_logits=False))
        return [float(model.train_on_batch(images, labels)) for _ in range(3)]

    first, second = run(), run()
    assert first == second  # same mixer seed, same steps: same plans
    assert len(set(first)) == 3  # every step draws a new plan


class NeedsPlan(MixingLoss):
    _requires_plan = True

    def call(self, y_true, y_pred):
        y, partner, lam, _ = self.own_and_partner_targets(y_true, y_pred.shape[-1])
        return tf.reduce_sum(y * 0 + partner * 0, axis=-1) + lam * 0


def test_integer_labels_need_num_classes_on_the_mixer():
    images, labels = colour_batch(8)
    model = share_model(kmix.layers.CutMix())
    model.compile(loss=kmix.losses.MixupCrossentropy())
    with pytest.raises(ValueError, match=r"MixingModel got integer labels \(class ids\), but its mixer CutMix has num_classes=None"):
        model.fit(images, labels, verbose=0)


def test_plan_requiring_loss_in_a_plain_model_raises_at_the_first_step():
    images, labels = colour_batch(8)
    inputs = keras.Input((H, H, K))
    model = keras.Model(inputs, keras.layers.Dense(K)(keras.layers.GlobalAveragePooling2D()(inputs)))
    model.compile(optimizer="sgd", loss=NeedsPlan())
    step_record.clear_record()
    with pytest.raises(ValueError, match=r"NeedsPlan needs the mixing plan of the training step .* A plain keras.Model only gives it y_true and y_pred"):
        model.fit(images, labels, verbose=0)


def test_unsupported_strategy_raises_at_compile_and_at_the_first_step():
    strategy = tf.distribute.experimental.CentralStorageStrategy()
    images, labels = colour_batch(8)
    with strategy.scope():
        model = share_model(MIXERS["CutMix"](), trainable=True)
        with pytest.raises(ValueError, match=r"MultiWorkerMirroredStrategy or TPUStrategy. Received: strategy=CentralStorageStrategy"):
            model.compile(optimizer="sgd", loss=PixelShareGap())
        # A mixer set after compile: refused at the first step.
        model.mixer = None
        model.compile(optimizer="sgd", loss=PixelShareGap())
        model.mixer = MIXERS["CutMix"]()
    with pytest.raises(ValueError, match=r"Received: strategy=CentralStorageStrategy"):
        model.fit(images, labels, verbose=0)


def test_mixer_must_be_a_kmix_mixer():
    inputs = keras.Input((H, H, K))
    with pytest.raises(TypeError, match=r"`mixer` must be a kmix mixing layer .* Received: mixer of type Dense"):
        kmix.models.MixingModel(inputs, inputs, mixer=keras.layers.Dense(2))


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus_each_replica_mixes_its_own_batch(two_cpus):
    with two_cpus.scope():
        model = share_model(MIXERS["CutMix"](), trainable=True)
        model.compile(optimizer="sgd", loss=PixelShareGap())
    images, labels = colour_batch(16)
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert max(history.history["loss"]) < 1e-5, history.history
    seeds = two_cpus.run(lambda: model._step_seed())
    per_replica = [tuple(s.numpy()) for s in two_cpus.experimental_local_results(seeds)]
    assert len(set(per_replica)) == 2, per_replica

    # Each replica draws its own plan: the same images on both replicas are
    # mixed differently (the plans of one traced step, read per replica).
    @tf.function(autograph=False)
    def lams_of_one_step(x, y):
        def replica_step(x, y):
            model.train_step((x, y))
            return step_record.get_record().plan.lam

        return two_cpus.run(replica_step, args=(x, y))

    lams = two_cpus.experimental_local_results(
        lams_of_one_step(tf.constant(images[:8]), tf.constant(labels[:8]))
    )
    assert not np.allclose(lams[0].numpy(), lams[1].numpy()), lams


@pytest.mark.slow
def test_the_image_reading_and_hole_mixers_train_under_mirrored_strategy(two_cpus):
    # GridMix, SmoothMix, AttentiveMix, SaliencyMix and GuidedMixup in one fit
    # (one member per row): each replica draws from its own images, and the
    # labels follow the pixels on every replica (the loss is exactly zero).
    L = kmix.layers
    images, labels = colour_batch(16)
    with two_cpus.scope():
        mixer = L.RandomMixChoice(
            [
                L.GridMix(n_holes=(1, 3)),
                L.SmoothMix(),
                L.AttentiveMix(teacher=keras.Sequential([keras.layers.AveragePooling2D(4)]), top_k=3),
                L.SaliencyMix(lam_scope="sample"),
                L.GuidedMixup(blur_sigma=(0.5, 3.0)),
            ],
            choice_scope="sample", num_classes=K, seed=1,
        )
        model = share_model(mixer, trainable=True)
        model.compile(optimizer="sgd", loss=PixelShareGap())
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert max(history.history["loss"]) < 1e-5, history.history
    assert_replicas_in_sync(two_cpus, model)


@pytest.mark.slow
def test_mirrored_strategy_training_keeps_replicas_in_sync_and_the_loss_falls(two_cpus):
    # A learnable task (the class is the colour) trained on mixed batches: the
    # loss falls, and every weight is the same on both replicas afterwards.
    images, labels = colour_batch(32)
    images = images + np.random.default_rng(0).normal(0, 0.1, images.shape).astype(np.float32)
    with two_cpus.scope():
        inputs = keras.Input((H, H, K))
        logits = keras.layers.Dense(K)(keras.layers.GlobalAveragePooling2D()(inputs))
        model = kmix.models.MixingModel(inputs, logits, mixer=MIXERS["MixUp"]())
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss=kmix.losses.MixupCrossentropy())
    before = trainable_snapshot(model)
    history = model.fit(images, labels, batch_size=16, epochs=3, verbose=0)
    losses = history.history["loss"]
    # Mixed targets keep the loss well above zero: it falls every epoch.
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.9 * losses[0], losses
    assert_replicas_in_sync(two_cpus, model, before)


# One step, one plan: a MixingModel with a mixer must not hold a mixing layer too.
def layer_in_graph_model(mixer):
    inputs = keras.Input((H, H, K))
    mixed = kmix.layers.MixUp(seed=0, name="inner_mixup")(inputs)
    shares = keras.layers.GlobalAveragePooling2D()(mixed)
    shares = shares + 0.0 * keras.layers.Dense(K)(shares)
    return kmix.models.MixingModel(inputs, shares, mixer=mixer)


@pytest.mark.parametrize("eager", [False, True], ids=["graph", "eager"])
def test_a_mixer_and_a_mixing_layer_in_the_graph_are_refused_at_the_first_step(eager):
    images, labels = colour_batch(8)
    model = layer_in_graph_model(kmix.layers.CutMix(num_classes=K, seed=1, name="step_cutmix"))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), run_eagerly=eager)
    before = [w.numpy().copy() for w in model.trainable_weights]
    with pytest.raises(ValueError, match=r"MixingModel '.*' mixes every batch in its train step with mixer='step_cutmix' \(CutMix\), and its graph also holds the mixing layer 'inner_mixup' \(MixUp\), which would mix the images a second time"):
        model.fit(images, labels, verbose=0)
    for w, b in zip(model.trainable_weights, before):
        np.testing.assert_array_equal(w.numpy(), b)
    # Outside the train step the model is an ordinary functional model.
    assert model(images, training=True).shape == (8, K)


@pytest.mark.parametrize("eager", [False, True], ids=["graph", "eager"])
def test_a_mixing_layer_in_the_graph_of_a_model_without_mixer_mixes_the_step(eager):
    images, labels = colour_batch(8)
    model = layer_in_graph_model(None)
    model.compile(optimizer="sgd", loss=PixelShareGap(), run_eagerly=eager)
    # The loss reads the layer's plan: the labels follow the pixels.
    assert max(model.fit(images, labels, epochs=2, verbose=0).history["loss"]) < 1e-5


# A mixer hands plain Keras losses soft targets: the sparse cross-entropy is refused.
SPARSE_LOSSES = {
    "string": "sparse_categorical_crossentropy",
    "instance": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    "function": keras.losses.sparse_categorical_crossentropy,
}
SPARSE_MESSAGE = (
    r"hands a plain Keras loss the mixed soft targets .* of its mixer CutMix, float32 \(B, K\), "
    r"and the sparse categorical cross-entropy expects class ids \(B,\)\. Compile with a kmix "
    r"loss such as `kmix.losses.MixupCrossentropy\(\)` .* or with \"categorical_crossentropy\".* "
    r"Received: loss="
)


@pytest.mark.parametrize("form", list(SPARSE_LOSSES))
def test_sparse_crossentropy_is_refused_at_compile(form):
    model = share_model(MIXERS["CutMix"](), trainable=True)
    with pytest.raises(ValueError, match="MixingModel " + SPARSE_MESSAGE):
        model.compile(optimizer="sgd", loss=SPARSE_LOSSES[form])
    with pytest.raises(ValueError, match=SPARSE_MESSAGE):
        model.compile("sgd", SPARSE_LOSSES[form])  # positional loss


@pytest.mark.parametrize("form", list(SPARSE_LOSSES))
def test_sparse_crossentropy_without_mixer_is_accepted(form):
    images, labels = colour_batch(8)
    model = share_model(None, trainable=True)
    model.compile(optimizer="sgd", loss=SPARSE_LOSSES[form])
    assert np.isfinite(model.fit(images, labels, verbose=0).history["loss"][0])


def test_sparse_crossentropy_is_refused_at_the_first_step_when_the_mixer_comes_after_compile():
    images, labels = colour_batch(8)
    model = share_model(None, trainable=True)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.mixer = MIXERS["CutMix"]()
    with pytest.raises(ValueError, match=SPARSE_MESSAGE + r"'sparse_categorical_crossentropy'"):
        model.fit(images, labels, verbose=0)


def test_vit_refuses_the_sparse_crossentropy_only_with_a_mixer():
    def vit(mixer):
        return kmix.models.ViT(image_size=8, patch_size=4, num_classes=2, dim=8, depth=1,
                               num_heads=1, mixer=mixer, seed=0)

    with pytest.raises(ValueError, match="ViT " + SPARSE_MESSAGE):
        vit(kmix.layers.CutMix(num_classes=2)).compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model = vit(None)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    history = model.fit(rng.random((4, 8, 8, 3), dtype=np.float32), np.arange(4) % 2, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_a_loaded_model_is_compiled_from_its_config(tmp_path):
    # MixingMixin overrides `compile` (for the check above); loading still compiles.
    model = share_model(MIXERS["CutMix"](), trainable=True)
    model.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy(from_logits=False))
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert not [w for w in caught if "compile()" in str(w.message)]
    assert loaded.compiled and isinstance(loaded.loss, kmix.losses.MixupCrossentropy)
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)


def test_the_train_and_test_steps_are_traced_once_without_a_strategy():
    # Keras creates the optimizer's and the metrics' variables inside the
    # first trace when no strategy is set, and tf.function then traces the
    # whole step again; MixingModel builds them first, as under a strategy.
    images = np.random.default_rng(0).random((16, 8, 8, 3)).astype("float32")
    labels = np.arange(16) % 3
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(inputs))
    model = kmix.models.MixingModel(inputs, outputs, mixer=kmix.layers.CutMix(num_classes=3, seed=0))
    model.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy(), metrics=["accuracy"])
    traces = {"train": 0, "test": 0}
    train_step, test_step = model.train_step, model.test_step

    def counted(kind, step):
        def run(data):
            traces[kind] += 1
            return step(data)
        return run

    model.train_step = counted("train", train_step)
    model.test_step = counted("test", test_step)
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0,
                        validation_data=(images, labels))
    assert traces == {"train": 1, "test": 1}
    assert model.optimizer.iterations.numpy() == 4
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_saving_keeps_the_mixing_seed_stream(tmp_path):
    # Keras saves the variables of layers only: the state of the step's seed
    # generator is saved by MixingMixin, so a restored model does not draw its
    # first plans again (tests/models/test_multi_worker.py resumes a fit).
    def build():
        inputs = keras.Input((8, 8, 3))
        outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(inputs))
        return kmix.models.MixingModel(inputs, outputs, mixer=kmix.layers.CutMix(num_classes=3, seed=1))

    model = build()
    for _ in range(3):
        model.mix_seed_generator.next()
    model.save_weights(str(tmp_path / "m.weights.h5"))
    model.save(str(tmp_path / "m.keras"))
    restored = build()
    restored.load_weights(str(tmp_path / "m.weights.h5"))
    loaded = keras.models.load_model(str(tmp_path / "m.keras"))
    for other in (restored, loaded):
        np.testing.assert_array_equal(other.mix_seed_generator.state.numpy(), [1, 3])
