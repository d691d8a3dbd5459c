"""
Title: CutMix inside a keras.Sequential model
Author: kmix contributors
Date created: 2026/11/25
Last modified: 2026/11/25
Description: Put a CutMix layer in a Sequential model and train it with MixupCrossentropy, which mixes the labels with the same plan.
Accelerator: None
"""

"""
## Introduction

CutMix pastes a box cut from another image of the batch into each image, and gives
the label a share of the other image's class equal to the pasted area. With kmix
the mixer can live **inside the model**, like any Keras preprocessing layer: it
mixes the images during `fit` and is the identity in `evaluate` and `predict`.

The labels must follow the images. The layer only sees the images, so it keeps the
*mixing plan* of the step (partner index, pixel mask, label weight `lam`) and
`kmix.losses.MixupCrossentropy` reads it to mix the labels to match. A model
compiled with a loss that cannot read the plan refuses to train.

The data are scikit-learn's bundled handwritten digits (no download), scaled up to
32x32. The run takes well under a minute on a CPU.
"""

"""
## Setup
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse
import pathlib
import re
import tempfile

import keras
import numpy as np

import kmix

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--out", default=None, help="folder for the figures (default: a temp dir)")
parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
args, _ = parser.parse_known_args()
# KMIX_EXAMPLE_STEPS=2 (as in the tests) trains 2 steps per epoch for 1 epoch.
STEPS = int(os.environ.get("KMIX_EXAMPLE_STEPS", "2" if args.quick else "0")) or None
EPOCHS = 1 if STEPS else 10
OUT = pathlib.Path(args.out or tempfile.mkdtemp(prefix="kmix_cutmix_sequential_"))
OUT.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(0)

"""
## The data

`kmix.datasets.load_digits` returns float32 images in `[0, 1]` and integer class
ids. CutMix accepts class ids once it knows `num_classes`; here the labels stay
integers and the loss one-hot encodes them.
"""

NUM_CLASSES = 10
(x_train, y_train), (x_test, y_test) = kmix.datasets.load_digits(image_size=32, seed=0)
print("train:", x_train.shape, y_train.shape, " test:", x_test.shape, y_test.shape)

"""
## What CutMix does to a batch

Every kmix mixer draws one `kmix.MixPlan` per batch; `lam` is measured from the
realised mask, so it is exactly the share of the image's own pixels even where a
box is clipped at the border.
"""

cutmix = kmix.layers.CutMix(alpha=1.0, num_classes=NUM_CLASSES, seed=0)
batch, batch_labels = x_train[:8], y_train[:8]
plan = cutmix.sample_plan(batch)
print("partner of each row:", plan.index.numpy())
print("lam (own-label weight):", np.round(plan.lam.numpy(), 3))
print("lam == mean(mask):", np.allclose(plan.lam, plan.mask.numpy().mean(axis=(1, 2, 3))))
path = OUT / "cutmix_gallery.png"
kmix.visualization.plot_mix_gallery(
    batch, plan, labels=batch_labels, mixed_images=cutmix.mix_images(batch, plan),
    path=path, title="CutMix on digits",
)
print(f"Wrote {path}")

"""
## The model

CutMix is the first layer after the input. Note `lam_scope`: by default one box
size per batch (as the official code); `lam_scope="sample"` draws one per image.
"""


def make_model(mixer):
    return keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            mixer,
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(NUM_CLASSES),
        ]
    )


model = make_model(kmix.layers.CutMix(alpha=1.0, num_classes=NUM_CLASSES, seed=1))

"""
## A loss that cannot see the plan is refused

With a plain Keras loss the labels would stay unmixed while the images are mixed.
kmix catches this at the first training step:
"""

model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
try:
    model.fit(x_train[:64], y_train[:64], epochs=1, verbose=0)
except ValueError as error:
    refusal = re.search(r"CutMix mixes the images.*?mixing plan", str(error), re.S)
    print("Refused:", refusal.group(0) if refusal else error)

"""
## Training with MixupCrossentropy

`MixupCrossentropy` reads the step's plan and mixes the (integer) labels exactly as
the images were mixed. Metrics see the original labels; validation never mixes.
"""

model.compile(
    optimizer=keras.optimizers.Adam(2e-3),
    loss=kmix.losses.MixupCrossentropy(),
    metrics=["accuracy"],
)
history = model.fit(
    x_train,
    y_train,
    batch_size=64,
    epochs=EPOCHS,
    steps_per_epoch=STEPS,
    validation_data=(x_test, y_test),
    verbose=2,
)

"""
## Inference does not mix

Outside `fit` the CutMix layer is the identity, so `predict` sees the clean images.
"""

mixer_layer = model.layers[0]
print("identity at inference:", np.array_equal(mixer_layer(x_test[:4], training=False), x_test[:4]))
# The test split fits in one batch: call the model directly (Keras's advice for
# small inputs), which skips tracing a predict function.
logits = model(x_test, training=False)
probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
accuracy = float(np.mean(probabilities.argmax(axis=1) == y_test))
print(f"test accuracy: {accuracy:.3f}")

"""
## Calibration

Mixing tends to make models less over-confident. The reliability diagram bins the
test predictions by confidence and compares each bin's accuracy with its mean
confidence; the title gives the expected calibration error (ECE).
"""

path = OUT / "cutmix_reliability.png"
kmix.visualization.plot_reliability_diagram(
    y_test, probabilities, num_bins=10, path=path, title="CutMix CNN"
)
print(f"Wrote {path}")
