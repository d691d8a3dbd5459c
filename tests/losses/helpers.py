"""Shared helpers of the loss tests: a fake training step, tiny models, strategy runs."""

import contextlib

import keras
import numpy as np
import tensorflow as tf

import kmix
from kmix import step_record
from kmix.mix_plan import MixPlan
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot



class Source:
    """Stands for the mixer in a hand-made step record."""

    name = "test_mixer"


def plan(index, lam):
    index = tf.constant(index, tf.int32)
    lam = tf.broadcast_to(tf.constant(lam, tf.float32), index.shape)
    return MixPlan(index, tf.reshape(lam, [-1, 1, 1, 1]), lam)


@contextlib.contextmanager
def step(plans, training=True, num_classes=None, **fields):
    """Eagerly records `plans` (a plan or a list) as the current training step.

    `fields` are further `StepRecord` fields (e.g. `mixed_logits=...`).
    """
    plans = plans if isinstance(plans, list) else [plans]
    record = step_record.StepRecord(plans[0], Source(), num_classes, 0.0, training, plans=plans, **fields)
    step_record.set_record(record)
    try:
        yield record
    finally:
        step_record.clear_record()


def tiny_model(mixer, num_classes=4, size=8, batch_norm=False):
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return kmix.models.MixingModel(inputs, keras.layers.Dense(num_classes)(x), mixer=mixer)


def tiny_data(batch=16, num_classes=4, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((batch, size, size, 3), dtype=np.float32), np.arange(batch) % num_classes


def plain_model(num_classes=4, size=8):
    inputs = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def fit_mirrored(strategy, make_loss):
    """Fits a tiny MixingModel with the loss `make_loss()` builds under `strategy`
    (a MirroredStrategy over two logical CPUs, from the `two_cpus` fixture)."""
    with strategy.scope():
        model = tiny_model(kmix.layers.MixUp(num_classes=4, seed=1))
        model.compile(optimizer="sgd", loss=make_loss())
    images, labels = tiny_data(16)
    before = trainable_snapshot(model)
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"])), history.history
    # The replicas trained as one model: the weights moved, the same on both.
    assert_replicas_in_sync(strategy, model, before)
