"""
Title: Manifold Mixup: mixing hidden states of a small CNN
Author: kmix contributors
Date created: 2026/12/06
Last modified: 2026/12/06
Description: Mark two hidden layers of a functional CNN as mixing points and train it with kmix.layers.ManifoldMixup, beside input MixUp and no mixing, over seeds.
Accelerator: None
"""

"""
## Introduction

Manifold Mixup (Verma et al., ICML 2019) mixes hidden states instead of (or
as well as) pixels: every step draws one point, uniformly among the input and
the marked hidden layers, and blends the activations there with a partner's;
the labels are mixed with the same ratio and partner.

In kmix the points are `kmix.layers.MixingPoint` layers, here inserted by
name with `MixingModel(..., mixing_points=[...])`, and the mixer is
`kmix.layers.ManifoldMixup`. The chosen point is a tensor, so the step
compiles once under XLA.

## Protocol (fixed before any run)

- Data: scikit-learn's digits at 16x16 (`kmix.datasets.load_digits`, its
  fixed split: 1348 train / 449 test images).
- Model: Conv(16)-Conv(32, stride 2)-Conv(32, stride 2)-pool-Dense(10), Adam
  1e-3, batch 64, 30 epochs; the mixing points are after the first two convs.
- Mixing: `alpha = 2.0` for both MixUp and Manifold Mixup (the official
  setting), `MixupCrossentropy`.
- Seeds 0, 1, 2 per method; mean and standard deviation of the test accuracy
  and NLL; a difference to "none" below twice its paired standard error is
  called within noise.
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
EPOCHS = 1 if STEPS else 30
SEEDS = (0,) if STEPS else (0, 1, 2)
JIT = not STEPS  # the smoke test skips XLA compilation
OUT = pathlib.Path(args.out or tempfile.mkdtemp(prefix="kmix_manifold_"))
OUT.mkdir(parents=True, exist_ok=True)

K = 10
(x_train, y_train), (x_test, y_test) = kmix.datasets.load_digits(image_size=16, seed=0)

"""
## The model and the methods
"""


def cnn(seed, mixer=None, points=None):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(x_train.shape[1:])
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv3")(x)
    outputs = keras.layers.Dense(K)(keras.layers.GlobalAveragePooling2D()(x))
    if mixer is None:
        return keras.Model(inputs, outputs)
    return kmix.models.MixingModel(inputs, outputs, mixer=mixer, mixing_points=points)


METHODS = {
    "none": lambda s: (cnn(s), keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
    "MixUp (input)": lambda s: (
        cnn(s, kmix.layers.MixUp(alpha=2.0, num_classes=K, seed=s)),
        kmix.losses.MixupCrossentropy(),
    ),
    "Manifold Mixup": lambda s: (
        cnn(s, kmix.layers.ManifoldMixup(alpha=2.0, num_classes=K, seed=s), ["conv1", "conv2"]),
        kmix.losses.MixupCrossentropy(),
    ),
}

"""
## Training and evaluation
"""


def run(name, seed):
    model, loss = METHODS[name](seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=JIT)
    model.fit(x_train, y_train, batch_size=64, epochs=EPOCHS, steps_per_epoch=STEPS, verbose=0)
    logits = model.predict(x_test, batch_size=512, verbose=0)
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    return float(np.mean(logits.argmax(1) == y_test)), float(-log_p[np.arange(len(y_test)), y_test].mean())


results = {name: np.array([run(name, seed) for seed in SEEDS]) for name in METHODS}

"""
## Results
"""


def verdict(name):
    if name == "none":
        return "baseline"
    diff = results[name][:, 0] - results["none"][:, 0]
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("inf")
    word = "within noise" if abs(diff.mean()) <= 2 * se else ("higher" if diff.mean() > 0 else "lower")
    return f"{word} ({100 * diff.mean():+.1f} +- {200 * se:.1f} points)"


def spread(values):
    return values.std(ddof=1) if len(values) > 1 else 0.0


lines = [
    f"Digits 16x16, {len(SEEDS)} seeds, {EPOCHS} epochs" + (" (QUICK SMOKE TEST: not results)" if STEPS else ""),
    "",
    "| method | test accuracy | test NLL | accuracy vs none (paired, 2 SE) |",
    "|---|---|---|---|",
]
for name, values in results.items():
    acc, nll = values[:, 0], values[:, 1]
    lines.append(f"| {name} | {acc.mean():.3f} +- {spread(acc):.3f} | {nll.mean():.3f} +- {spread(nll):.3f} | {verdict(name)} |")
table = "\n".join(lines)
print(table)
path = OUT / "manifold_mixup.md"
path.write_text(table + "\n")
print(f"Wrote {path}")
