"""Losses that read logits warn when the model's output is a softmax (as Keras's cross-entropies)."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.mix_plan import identity_plan
from tests.losses import helpers

WARNING = r"received `from_logits=True`|reads `y_pred` as logits"
SOFTMAX = WARNING + r".*but `y_pred` was produced by a Softmax activation and thus does not represent logits"

LOGIT_LOSSES = {
    "MixupCrossentropy": lambda: kmix.losses.MixupCrossentropy(),
    "DecoupledMixupLoss": lambda: kmix.losses.DecoupledMixupLoss(),
    "LUMixLoss": lambda: kmix.losses.LUMixLoss(),
    "RankMixupLoss": lambda: kmix.losses.RankMixupLoss(),
    "SMMixLoss": lambda: kmix.losses.SMMixLoss(),
}


def softmax_model(activation="softmax", mixer=None, layer=None):
    inputs = keras.Input((8, 8, 3))
    x = layer(inputs) if layer is not None else inputs
    outputs = keras.layers.Dense(4, activation=activation)(keras.layers.GlobalAveragePooling2D()(x))
    if layer is not None:
        return keras.Model(inputs, outputs)
    return kmix.models.MixingModel(inputs, outputs, mixer=mixer)


def logits_warnings(caught):
    return [w for w in caught if "does not represent logits" in str(w.message)]


@pytest.mark.parametrize("name", list(LOGIT_LOSSES))
def test_every_logit_loss_warns_on_a_softmax_output(name):
    logits = tf.constant([[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 0.0, 0.0]])
    labels = np.array([0, 1])
    with helpers.step(identity_plan(2), training=False):  # an evaluation step
        with pytest.warns(UserWarning, match=rf"`{name}` ({SOFTMAX})"):
            LOGIT_LOSSES[name]()(labels, keras.activations.softmax(logits))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            LOGIT_LOSSES[name]()(labels, logits)
    assert not logits_warnings(caught)


@pytest.mark.parametrize("eager", [False, True], ids=["graph", "eager"])
def test_mixup_crossentropy_warns_in_fit_with_a_mixing_layer_and_a_softmax_output(eager):
    images, labels = helpers.tiny_data(8)
    model = softmax_model(layer=kmix.layers.CutMix(seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), run_eagerly=eager)
    with pytest.warns(UserWarning, match=r"`MixupCrossentropy` received `from_logits=True`, but `y_pred` was produced by a Softmax activation .* or pass `from_logits=False`"):
        model.fit(images, labels, verbose=0)


@pytest.mark.parametrize("name", ["DecoupledMixupLoss", "LUMixLoss", "RankMixupLoss"])
def test_mixing_model_losses_warn_in_fit_with_a_softmax_output(name):
    # RankMixup splits a concatenated clean + mixed prediction, which drops the
    # softmax mark: the model checks before it splits.
    images, labels = helpers.tiny_data(8)
    model = softmax_model(mixer=kmix.layers.MixUp(num_classes=4, seed=0))
    model.compile(optimizer="sgd", loss=LOGIT_LOSSES[name]())
    with pytest.warns(UserWarning, match=rf"`{name}` reads `y_pred` as logits, but `y_pred` was produced by a Softmax activation .* so that the model outputs logits\."):
        model.fit(images, labels, verbose=0)


@pytest.mark.parametrize(
    "case", ["logits", "from_logits=False", "rank_mixup_logits"],
)
def test_no_warning_for_logits_or_for_a_loss_that_takes_probabilities(case):
    images, labels = helpers.tiny_data(8)
    if case == "logits":
        model, loss = softmax_model(None, layer=kmix.layers.CutMix(seed=0)), kmix.losses.MixupCrossentropy()
    elif case == "from_logits=False":
        model = softmax_model(layer=kmix.layers.CutMix(seed=0))
        loss = kmix.losses.MixupCrossentropy(from_logits=False)
    else:
        model = softmax_model(None, mixer=kmix.layers.MixUp(num_classes=4, seed=0))
        loss = kmix.losses.RankMixupLoss()
    model.compile(optimizer="sgd", loss=loss)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(images, labels, verbose=0)
    assert not logits_warnings(caught)
