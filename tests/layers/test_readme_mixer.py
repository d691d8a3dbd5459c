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
    # Large weights: logits that differ clearly between images and classes.
    head = keras.layers.Dense(K, kernel_initializer=keras.initializers.RandomNormal(stddev=20.0, seed=0))
    outputs = head(keras.layers.GlobalAveragePooling2D()(x))
    model = kmix.models.MixingModel(inputs, outputs, mixer=readme_mixer(num_classes=K, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), jit_compile=True)
    rng = np.random.default_rng(1)
    images = rng.random((16, 16, 16, 3)).astype(np.float32)
    labels = np.arange(16) % K
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(before, model.trainable_weights))
    # The step mixed: with the weights frozen, the training loss of a batch is
    # not its clean loss.
    model.optimizer.learning_rate.assign(0.0)
    mixed_loss = model.fit(images[:8], labels[:8], batch_size=8, epochs=1, verbose=0).history["loss"][0]
    clean = keras.losses.CategoricalCrossentropy(from_logits=True)(
        tf.one_hot(labels[:8], K), model(images[:8], training=False)
    )
    assert abs(mixed_loss - float(clean)) > 1e-2
