"""A mixing layer inside keras.Sequential: the loss mixes the labels to match."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix

K, H = 4, 16


def colour_batch(batch=8):
    """Image i is filled with the one-hot colour of its class: after mixing,
    the global average of a row IS the share of each class's pixels."""
    labels = np.arange(batch) % K
    images = np.broadcast_to(np.eye(K, dtype=np.float32)[labels][:, None, None, :], (batch, H, H, K)).copy()
    return images, labels


def share_model(layer):
    """Outputs log(pixel share per class); with targets t the soft CE is
    -sum t log(share), minimal (= entropy) exactly when t equals the shares."""
    return keras.Sequential(
        [
            keras.Input((H, H, K)),
            layer,
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Lambda(lambda p: tf.math.log(p + 1e-7)),
        ]
    )


def expected_loss(make_layer, images):
    shares = tf.reduce_mean(make_layer()(images), axis=[1, 2]).numpy()
    return np.mean(-np.sum(shares * np.log(shares + 1e-7), axis=1)), shares


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize(
    "make_layer",
    [
        lambda: kmix.layers.CutMix(seed=3, lam_scope="sample"),
        lambda: kmix.layers.MixUp(alpha=1.0, seed=3, lam_scope="sample"),
    ],
    ids=["CutMix", "MixUp"],
)
def test_loss_mixes_labels_like_the_images_inside_fit(make_layer, jit):
    images, labels = colour_batch()
    model = share_model(make_layer())
    model.compile(loss=kmix.losses.MixupCrossentropy(), jit_compile=jit)
    # The fresh layer's first draw; the reference layer with the same seed draws the same plan
    # (under XLA the stateless kernels give another stream, so reproduce that too).
    if jit:
        ref_layer = make_layer()
        shares = tf.function(lambda x: tf.reduce_mean(ref_layer(x), axis=[1, 2]), jit_compile=True)(images).numpy()
        want = np.mean(-np.sum(shares * np.log(shares + 1e-7), axis=1))
    else:
        want, shares = expected_loss(make_layer, images)
    got = model.train_on_batch(images, labels)
    assert got == pytest.approx(want, rel=1e-4, abs=1e-5)
    # And it is not what unmixed labels would give.
    unmixed = np.mean(-np.log(shares[np.arange(len(labels)), labels] + 1e-7))
    assert abs(unmixed - want) > 1e-2


def test_run_eagerly_and_one_hot_labels():
    images, labels = colour_batch()
    model = share_model(kmix.layers.CutMix(seed=3, lam_scope="sample"))
    model.compile(loss=kmix.losses.MixupCrossentropy(), run_eagerly=True)
    want, _ = expected_loss(lambda: kmix.layers.CutMix(seed=3, lam_scope="sample"), images)
    got = model.train_on_batch(images, np.eye(K, dtype=np.float32)[labels])
    assert got == pytest.approx(want, rel=1e-4)


def test_evaluate_and_predict_do_not_mix():
    images, labels = colour_batch()
    model = share_model(kmix.layers.CutMix(seed=0))
    model.compile(loss=kmix.losses.MixupCrossentropy(), run_eagerly=True)
    model.train_on_batch(images, labels)  # leaves a plan in the eager slot
    # Unmixed one-hot colour images: the share of the own class is 1, loss ~ 0.
    assert model.evaluate(images, labels, verbose=0) == pytest.approx(0.0, abs=1e-5)
    preds = model.predict(images, verbose=0)
    np.testing.assert_allclose(np.exp(preds), np.eye(K)[labels], atol=1e-5)


def test_fit_with_steps_per_execution_and_validation():
    images, labels = colour_batch(16)
    model = share_model(kmix.layers.MixUp(seed=0))
    model.compile(loss=kmix.losses.MixupCrossentropy(), steps_per_execution=2)
    hist = model.fit(images, labels, batch_size=4, epochs=1, validation_data=(images, labels), verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    assert hist.history["val_loss"][0] == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", keras.losses.CategoricalCrossentropy(from_logits=True)])
def test_plan_blind_loss_raises_at_the_first_step(loss):
    images, labels = colour_batch()
    model = keras.Sequential(
        [keras.Input((H, H, K)), kmix.layers.CutMix(seed=0), keras.layers.Flatten(), keras.layers.Dense(K)]
    )
    model.compile(optimizer="sgd", loss=loss)
    before = [w.numpy().copy() for w in model.trainable_weights]
    y = labels if isinstance(loss, str) else np.eye(K, dtype=np.float32)[labels]
    with pytest.raises(ValueError, match=r"CutMix mixes the images inside model 'sequential.*', but the model was compiled with loss=.*which cannot see the mixing plan: it would train on unmixed labels"):
        model.fit(images, y, epochs=1, verbose=0)
    for w, b in zip(model.trainable_weights, before):
        np.testing.assert_array_equal(w.numpy(), b)


def test_label_smoothing_from_the_layer_reaches_the_loss_and_conflicts_raise():
    images, labels = colour_batch()
    model = share_model(kmix.layers.MixUp(seed=3, label_smoothing=0.1))
    model.compile(loss=kmix.losses.MixupCrossentropy(label_smoothing=0.2), run_eagerly=True)
    with pytest.raises(ValueError, match=r"MixupCrossentropy has label_smoothing=0.2 but the mixing layer .* has label_smoothing=0.1"):
        model.train_on_batch(images, labels)


def test_soft_labels_from_tf_data_with_a_plain_model():
    images, labels = colour_batch(12)
    mixer = kmix.layers.CutMix(num_classes=K, seed=1)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4).map(mixer)
    model = keras.Sequential([keras.Input((H, H, K)), keras.layers.GlobalAveragePooling2D(), keras.layers.Lambda(lambda p: tf.math.log(p + 1e-7))])
    model.compile(loss=kmix.losses.MixupCrossentropy())
    # Labels were mixed with the pixels: predicting the pixel shares gives the minimum, the entropy.
    got = model.evaluate(ds, verbose=0)
    total = []
    for x, y in tf.data.Dataset.from_tensor_slices((images, labels)).batch(4).map(kmix.layers.CutMix(num_classes=K, seed=1)):
        s = tf.reduce_mean(x, axis=[1, 2]).numpy()
        np.testing.assert_allclose(s, y.numpy(), atol=1e-6)
        total.append(-np.sum(s * np.log(s + 1e-7), axis=1))
    assert got == pytest.approx(np.mean(np.concatenate(total)), rel=1e-4, abs=1e-5)


# One step, one plan: a second mixer in the same forward pass is refused.
S = 8  # small images for the tests below


def two_input_model(make_a, make_b):
    """Two image inputs, one mixer on each, concatenated features, a Dense head."""
    a, b = keras.Input((S, S, 3), name="left"), keras.Input((S, S, 3), name="right")
    features = keras.layers.Concatenate()(
        [keras.layers.Flatten()(make_a()(a)), keras.layers.Flatten()(make_b()(b))]
    )
    return keras.Model([a, b], keras.layers.Dense(2)(features))


def small_batch(batch=4):
    rng = np.random.default_rng(0)
    return rng.random((batch, S, S, 3), dtype=np.float32), np.arange(batch) % 2


def single_mixer_model(layer):
    return keras.Sequential([keras.Input((S, S, 3)), layer, keras.layers.Flatten(), keras.layers.Dense(2)])


@pytest.mark.parametrize("eager", [False, True], ids=["graph", "eager"])
def test_a_mixer_on_each_of_two_inputs_is_refused_at_the_first_step(eager):
    images, labels = small_batch()
    model = two_input_model(
        lambda: kmix.layers.CutMix(seed=0, name="left_cutmix"),
        lambda: kmix.layers.MixUp(seed=0, name="right_mixup"),
    )
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), run_eagerly=eager)
    before = [w.numpy().copy() for w in model.trainable_weights]
    with pytest.raises(ValueError, match=r"Two kmix mixing layers mix the images in one forward pass of model '.*': '(left_cutmix' \(CutMix\) and 'right_mixup' \(MixUp|right_mixup' \(MixUp\) and 'left_cutmix' \(CutMix)\)\. The labels can follow only one mixing plan per step.*RandomMixChoice.*tf\.data"):
        model.fit([images, images], labels, epochs=1, verbose=0)
    for w, b in zip(model.trainable_weights, before):
        np.testing.assert_array_equal(w.numpy(), b)


@pytest.mark.parametrize("eager", [False, True], ids=["graph", "eager"])
def test_two_mixers_in_sequence_are_refused_at_the_first_step(eager):
    images, labels = small_batch()
    model = keras.Sequential([
        keras.Input((S, S, 3)),
        kmix.layers.CutMix(seed=0, name="first_cutmix"),
        kmix.layers.MixUp(seed=0, name="then_mixup"),
        keras.layers.Flatten(),
        keras.layers.Dense(2),
    ])
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), run_eagerly=eager)
    with pytest.raises(ValueError, match=r"'first_cutmix' \(CutMix\) and 'then_mixup' \(MixUp\)\. The labels can follow only one mixing plan per step"):
        model.train_on_batch(images, labels)


@pytest.mark.parametrize("eager", [False, True], ids=["graph", "eager"])
def test_single_mixer_models_one_after_the_other_are_not_refused(eager):
    # The eager record outlives its step, and graph records outlive nothing: neither
    # may make one model's mixer look like a second mixer of another model or step.
    images, labels = small_batch()
    models = [single_mixer_model(kmix.layers.CutMix(seed=0)), single_mixer_model(kmix.layers.MixUp(seed=0))]
    for model in models:
        model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), run_eagerly=eager)
    for model in models + models:  # each trained twice, interleaved
        history = model.fit(images, labels, batch_size=2, epochs=2, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        assert np.isfinite(model.evaluate(images, labels, verbose=0))
        assert model.predict(images, verbose=0).shape == (4, 2)
    # And a two-input model whose mixers are called with training=False (evaluate,
    # predict) records identity plans only: nothing to refuse.
    model = two_input_model(lambda: kmix.layers.CutMix(seed=0), lambda: kmix.layers.MixUp(seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), run_eagerly=eager)
    assert np.isfinite(model.evaluate([images, images], labels, verbose=0))
    assert model.predict([images, images], verbose=0).shape == (4, 2)
