"""The mixing losses train under mixed precision (float16 logits, float32 loss)."""

import keras
import numpy as np
import pytest

import kmix
from tests.losses import helpers

LOSSES = {
    "DecoupledMixupLoss": lambda: kmix.losses.DecoupledMixupLoss(),
    "RankMixupLoss-mndcg": lambda: kmix.losses.RankMixupLoss(mode="mndcg", num_mixes=2),
    "LUMixLoss": lambda: kmix.losses.LUMixLoss(),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_fits_under_mixed_float16(name):
    keras.config.set_dtype_policy("mixed_float16")
    images, labels = helpers.tiny_data(16)
    model = helpers.tiny_model(kmix.layers.MixUp(num_classes=4, seed=0))
    assert model.outputs[0].dtype == "float16"
    model.compile(optimizer="sgd", loss=LOSSES[name]())
    history = model.fit(images, labels, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
