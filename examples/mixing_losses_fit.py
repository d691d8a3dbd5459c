"""
Title: Training with each kmix mixing loss
Author: kmix contributors
Date created: 2026/11/25
Last modified: 2026/11/25
Description: Fit the same network with MixupCrossentropy, Decoupled Mixup, RankMixup (MRL and M-NDCG) and LUMix through kmix.models.MixingModel, and compare accuracy and calibration.
Accelerator: None
"""

"""
## Introduction

The mixup family has grown a set of *losses* that use more of the mixing plan than
the mixed target:

| loss | what it adds | needs |
|---|---|---|
| `MixupCrossentropy` | soft-target cross-entropy on `lam * y_a + (1 - lam) * y_b` | the plan |
| `DecoupledMixupLoss` | a regulariser that makes the two mixed classes compete with each other only | own and partner labels, `lam` |
| `RankMixupLoss(mode="mrl")` | clean CE + a margin: a mixed sample must be less confident than the clean one | clean and mixed logits |
| `RankMixupLoss(mode="mndcg")` | clean CE + confidences of several mixes ranked by their `lam` | clean and several mixed logits |
| `LUMixLoss` | mixup CE with a perturbed ratio pulled towards the model's own prediction | the plan and a step seed |

A plain `keras.Model` cannot give a loss the plan, the clean logits or a seed.
`kmix.models.MixingModel` (a functional model built on `kmix.models.MixingMixin`)
mixes each batch **inside its training step** and hands every kmix loss what it
declares it needs; for RankMixup it runs the clean and mixed batches in one
concatenated forward pass. `evaluate` and `predict` never mix.

The data are scikit-learn's bundled digits (no download) at 16x16; a few epochs
per loss keep the whole run under a minute on a CPU. The numbers of such a short
run are noisy: this shows how to use the losses, not which is best.
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

import kmix

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--out", default=None, help="folder for outputs (default: a temp dir)")
parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
args, _ = parser.parse_known_args()
# KMIX_EXAMPLE_STEPS=2 (as in the tests) trains 2 steps per epoch for 1 epoch.
STEPS = int(os.environ.get("KMIX_EXAMPLE_STEPS", "2" if args.quick else "0")) or None
EPOCHS = 1 if STEPS else 6
OUT = pathlib.Path(args.out or tempfile.mkdtemp(prefix="kmix_losses_"))
OUT.mkdir(parents=True, exist_ok=True)

NUM_CLASSES = 10
IMAGE_SIZE = 16
(x_train, y_train), (x_test, y_test) = kmix.datasets.load_digits(image_size=IMAGE_SIZE, seed=0)

"""
## The losses

Each entry makes a fresh loss. MixUp is the mixer for all of them (RankMixup was
designed with it); `alpha=1.0` gives a uniform ratio.
"""

LOSSES = {
    "MixupCrossentropy": lambda: kmix.losses.MixupCrossentropy(),
    "DecoupledMixupLoss": lambda: kmix.losses.DecoupledMixupLoss(eta=0.1),
    "RankMixupLoss (MRL)": lambda: kmix.losses.RankMixupLoss(mode="mrl", margin=2.0, weight=0.1),
    "RankMixupLoss (M-NDCG)": lambda: kmix.losses.RankMixupLoss(mode="mndcg", weight=0.1),
    "LUMixLoss": lambda: kmix.losses.LUMixLoss(noise_scale=0.1, prediction_weight=0.5),
}

"""
## The model

A small CNN as a `MixingModel`: `keras.Model(inputs, outputs)` plus the mixer.
Integer labels work because the mixer knows `num_classes`. Every loss starts from
the same initial weights (same seed).
"""


def make_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Dense(64, activation="relu")(keras.layers.Flatten()(x))
    outputs = keras.layers.Dense(NUM_CLASSES)(x)
    mixer = kmix.layers.MixUp(alpha=1.0, num_classes=NUM_CLASSES, seed=seed)
    return kmix.models.MixingModel(inputs, outputs, mixer=mixer)


"""
## Calibration error

The expected calibration error (ECE) bins the test predictions by confidence (the
largest probability) into equal-width bins `lo < conf <= hi` and averages
`|accuracy - confidence|` over the bins, weighted by their size.
"""


def expected_calibration_error(labels, probabilities, num_bins=15):
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return ece


"""
## Training with each loss
"""

rows = []
for name, make_loss in LOSSES.items():
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=make_loss())
    history = model.fit(
        x_train, y_train, batch_size=64, epochs=EPOCHS, steps_per_epoch=STEPS, verbose=0
    )
    # The test split fits in one batch: call the model directly (Keras's advice for
    # small inputs), which skips tracing a predict function.
    logits = model(x_test, training=False)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    accuracy = float(np.mean(probabilities.argmax(axis=1) == y_test))
    nll = float(-np.mean(np.log(probabilities[np.arange(len(y_test)), y_test] + 1e-12)))
    ece = expected_calibration_error(y_test, probabilities)
    rows.append((name, history.history["loss"][-1], accuracy, nll, ece))
    print(f"{name:>24}: last train loss {rows[-1][1]:.3f}, test accuracy {accuracy:.3f}, "
          f"NLL {nll:.3f}, ECE {ece:.3f}")
    if name == "RankMixupLoss (M-NDCG)":
        path = OUT / "rank_mixup_mndcg_reliability.png"
        kmix.visualization.plot_reliability_diagram(
            y_test, probabilities, num_bins=10, path=path, title=name
        )
        print(f"Wrote {path}")

"""
## Results
"""

table = [
    f"sklearn digits {IMAGE_SIZE}x{IMAGE_SIZE}, MixUp(alpha=1.0), {EPOCHS} epoch(s)"
    + (f" of {STEPS} steps" if STEPS else ""),
    "",
    "| loss | final train loss | test accuracy | NLL | ECE (15 bins) |",
    "|---|---:|---:|---:|---:|",
]
table += [f"| {n} | {l:.3f} | {a:.3f} | {nll:.3f} | {e:.3f} |" for n, l, a, nll, e in rows]
text = "\n".join(table)
print(text)
path = OUT / "mixing_losses.md"
path.write_text(text + "\n")
print(f"Wrote {path}")
