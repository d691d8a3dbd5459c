"""
Title: A tf.data pipeline with a per-sample random choice of mixers
Author: kmix contributors
Date created: 2026/11/25
Last modified: 2026/11/25
Description: Mix batches in tf.data with RandomMixChoice (MixUp, CutMix or FMix per image) and fit a plain Keras model on the soft labels.
Accelerator: None
"""

"""
## Introduction

Recipes such as DeiT's apply MixUp *or* CutMix to each batch (timm's `switch_prob`).
`kmix.layers.RandomMixChoice` generalises this to any set of kmix mixers, with
weights, a chance of not mixing at all, and a choice per batch or **per image**
(`choice_scope="sample"`). Because every mixer produces the same kind of plan
(partner index, own-pixel mask, label weight), a per-image choice is one
vectorised selection between masks.

Here the mixing happens in the `tf.data` pipeline: `ds.map(layer)` takes
`(images, class_ids)` batches and returns mixed images with soft labels `(B, K)`.
The model is a plain `keras.Sequential`, compiled with Keras's own
`CategoricalCrossentropy`: the labels it sees are already mixed, so it needs
nothing from kmix.

The data are scikit-learn's bundled digits (no download) at 32x32; the run takes
well under a minute on a CPU.
"""

"""
## Setup
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse
import pathlib
import tempfile

import keras
import numpy as np
import tensorflow as tf

import kmix

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--out", default=None, help="folder for the figures (default: a temp dir)")
parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
args, _ = parser.parse_known_args()
# KMIX_EXAMPLE_STEPS=2 (as in the tests) trains 2 steps per epoch for 1 epoch.
STEPS = int(os.environ.get("KMIX_EXAMPLE_STEPS", "2" if args.quick else "0")) or None
EPOCHS = 1 if STEPS else 10
OUT = pathlib.Path(args.out or tempfile.mkdtemp(prefix="kmix_tf_data_choice_"))
OUT.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(0)

NUM_CLASSES = 10
BATCH_SIZE = 64
(x_train, y_train), (x_test, y_test) = kmix.datasets.load_digits(image_size=32, seed=0)

"""
## The mixer

Each image draws MixUp (weight 1), CutMix (weight 2) or FMix (weight 1); one image
in ten is left unmixed (its label is still one-hot encoded and smoothed like the
others). All images of the batch share one partner permutation.
"""

mixer = kmix.layers.RandomMixChoice(
    [
        kmix.layers.MixUp(alpha=0.4),
        kmix.layers.CutMix(alpha=1.0),
        kmix.layers.FMix(alpha=1.0),
    ],
    weights=[1.0, 2.0, 1.0],
    choice_scope="sample",
    no_mix_probability=0.1,
    num_classes=NUM_CLASSES,
    label_smoothing=0.05,
    seed=0,
)

"""
## The pipeline

`ds.map(mixer)` works on `(images, labels)` batches. The layer is safe inside
`tf.data` (it runs as TensorFlow ops in the pipeline's graph) and draws a new plan
for every batch from its own seed.
"""

train_ds = (
    tf.data.Dataset.from_tensor_slices((x_train, y_train))
    .shuffle(len(y_train), seed=0)
    .batch(BATCH_SIZE, drop_remainder=True)
    .map(mixer, num_parallel_calls=tf.data.AUTOTUNE)
    .prefetch(tf.data.AUTOTUNE)
)
test_ds = tf.data.Dataset.from_tensor_slices(
    (x_test, tf.one_hot(y_test, NUM_CLASSES))
).batch(256)

mixed_images, soft_labels = next(iter(train_ds))
print("mixed batch:", mixed_images.shape, soft_labels.shape, soft_labels.dtype)
print("label rows sum to 1:", np.allclose(tf.reduce_sum(soft_labels, axis=1), 1.0))
print("largest label weight of the first rows:", np.round(np.max(soft_labels[:6], axis=1), 3))

"""
## A look at one batch

To draw pictures we call the layer's plan functions directly: `sample_plan`
draws what the pipeline would draw, `mix_images` applies it. Look at the masks
row: some are boxes (CutMix), some blobs (FMix), some uniform gray (MixUp) and
some all white (not mixed).
"""

images, labels = x_train[:8], y_train[:8]
plan = mixer.sample_plan(images)
path = OUT / "random_mix_choice_gallery.png"
kmix.visualization.plot_mix_gallery(
    images, plan, labels=labels, mixed_images=mixer.mix_images(images, plan),
    path=path, title="RandomMixChoice, one mixer per image",
)
print(f"Wrote {path}")

"""
## A plain Keras model on the mixed soft labels
"""

model = keras.Sequential(
    [
        keras.Input((32, 32, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(NUM_CLASSES),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(2e-3),
    loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
)
fit_ds = train_ds.repeat() if STEPS else train_ds
model.fit(
    fit_ds, epochs=EPOCHS, steps_per_epoch=STEPS, validation_data=test_ds, verbose=2
)

"""
## Evaluation and calibration
"""

# The test split fits in one batch: call the model directly (Keras's advice for
# small inputs), which skips tracing a predict function.
logits = model(x_test, training=False)
probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
print(f"test accuracy: {np.mean(probabilities.argmax(axis=1) == y_test):.3f}")
path = OUT / "random_mix_choice_reliability.png"
kmix.visualization.plot_reliability_diagram(
    y_test, probabilities, num_bins=10, path=path, title="RandomMixChoice CNN"
)
print(f"Wrote {path}")
