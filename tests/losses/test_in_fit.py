"""The plan-reading losses in `fit`: refused in a plain keras.Model, trained in a MixingModel."""

import numpy as np
import pytest

import kmix
from kmix import step_record
from tests.losses import helpers

LOSSES = {
    "DecoupledMixupLoss": lambda: kmix.losses.DecoupledMixupLoss(),
    "LUMixLoss": lambda: kmix.losses.LUMixLoss(),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_plain_keras_model_raises_at_the_first_step(name):
    images, labels = helpers.tiny_data(8)
    model = helpers.plain_model()
    model.compile(optimizer="sgd", loss=LOSSES[name]())
    step_record.clear_record()
    with pytest.raises(ValueError, match=rf"{name} needs the mixing plan of the training step"):
        model.fit(images, labels, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("one_hot", [False, True], ids=["class_ids-xla", "one_hot-graph"])
def test_fits_in_a_mixing_model(name, one_hot):
    images, labels = helpers.tiny_data(16)
    y = np.eye(4, dtype=np.float32)[labels] if one_hot else labels
    model = helpers.tiny_model(kmix.layers.MixUp(num_classes=4, seed=0, lam_scope="sample"))
    model.compile(optimizer="sgd", loss=LOSSES[name](), jit_compile=not one_hot,
                  metrics=None if one_hot else ["accuracy"])
    validation = (images, y) if one_hot else None
    history = model.fit(images, y, batch_size=8, epochs=2, validation_data=validation, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    if one_hot:
        assert np.isfinite(history.history["val_loss"]).all()
