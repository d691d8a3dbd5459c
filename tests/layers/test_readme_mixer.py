"""The README's own mixer: one subclass and one method give a whole kmix mixer.

The contract tests (tests/layers/test_contract.py, test_properties.py,
test_plan_contract.py) run it through every check through the registry; here
it trains as the in-graph mixer of a MixingModel under XLA, and its labels
follow the split it drew.
"""

import keras
import numpy as np
import tensorflow as tf

import kmix
from kmix.losses.mixing_loss import MixingLoss
from tests.models.test_mixing_model import PixelShareGap
from tests.models.test_mixing_model import colour_batch
from tests.models.test_mixing_model import share_model
from tests.readme_mixer import readme_mixer

K = 4


def test_its_labels_follow_the_split_it_drew():
    layer = readme_mixer(num_classes=K, lam_scope="sample", seed=3)
    images = np.random.default_rng(0).random((8, 12, 20, 3)).astype(np.float32)
    plan = layer.sample_plan(images)
    mask = plan.mask.numpy()[..., 0]
    for row in mask:
        own_columns = row[0] > 0.5
        # Own pixels form a left strip: columns are constant, then switch once.
        assert (row == row[:1]).all()
        assert np.all(np.diff(own_columns.astype(int)) <= 0)
    np.testing.assert_allclose(plan.lam.numpy(), mask.mean(axis=(1, 2)), atol=1e-7)
    mixed = layer.mix_images(images, plan).numpy()
    partner = images[plan.index.numpy()]
    np.testing.assert_array_equal(mixed, np.where(mask[..., None] > 0.5, images, partner))


def test_it_mixes_inside_a_mixing_model_under_xla():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    outputs = keras.layers.Dense(K)(keras.layers.GlobalAveragePooling2D()(x))
    model = kmix.models.MixingModel(inputs, outputs, mixer=readme_mixer(num_classes=K, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), jit_compile=True)
    rng = np.random.default_rng(1)
    images = rng.random((16, 16, 16, 3)).astype(np.float32)
    labels = np.arange(16) % K
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(before, model.trainable_weights))


def test_its_labels_follow_its_pixels_in_the_compiled_step():
    # Colour images whose pooled shares are the mixed labels exactly when the
    # labels were mixed with the plan that mixed the pixels (under XLA).
    images, labels = colour_batch(16)
    model = share_model(readme_mixer(num_classes=images.shape[-1], seed=1, lam_scope="sample"),
                        trainable=True)
    model.compile(optimizer="sgd", loss=PixelShareGap(), jit_compile=True)
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert max(history.history["loss"]) < 1e-5
    # And the step did mix: the plan it recorded for the loss moved pixels.
    model.compile(optimizer="sgd", loss=PartnerShare())
    assert model.fit(images, labels, batch_size=8, verbose=0).history["loss"][0] > 0.05


class PartnerShare(MixingLoss):
    """Test loss: each row's partner share `1 - lam` in the step's plan."""

    def call(self, y_true, y_pred):
        record = self.step_record()
        return (1.0 - record.plan.lam) + 0.0 * tf.reduce_sum(y_pred, axis=-1)
