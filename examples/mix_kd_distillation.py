"""
Title: Distilling a ViT into a smaller one with MIX-KD
Author: kmix contributors
Date created: 2026/12/06
Last modified: 2026/12/06
Description: Train the main job's ViT as a teacher on the digits, then distil it into a smaller ViT with plain KD and with MIX-KD's partial mixup, and compare with the student trained alone, over seeds.
Accelerator: None
"""

"""
## Introduction

MIX-KD (Choi et al., WACV 2023) distils on mixed images: the frozen teacher
sees exactly the mixed batch the student sees (no clean forward pass), and the
loss adds a cross-entropy on the mixed labels (`gamma = 0.1`) and a KL to the
teacher (`alpha = 0.9`), both on logits divided by their own standard
deviation. Partial mixup (PMU) leaves part of each batch unmixed.

In kmix: `kmix.models.MixingModel(..., teacher=teacher)` (or
`kmix.models.ViT(..., teacher=teacher)`) runs the teacher inside the compiled
step; `kmix.losses.MixKDLoss` is the loss; `kmix.layers.MixKDMix` the data
scheme.

## Protocol (fixed before any run)

- Data: scikit-learn's digits at 16x16 (`kmix.datasets.load_digits`, its fixed
  split: 1348 train / 449 test images).
- Teacher: the main job's ViT (dim 48, depth 3, 3 heads, patch 4), trained
  once, seed 0, 30 epochs, AdamW 2e-3 with cosine decay, MixUp(0.8) and
  `MixupCrossentropy`.
- Student: a smaller ViT (dim 24, depth 2, 2 heads), 30 epochs, same optimiser,
  three ways: alone (plain cross-entropy, no mixing), plain KD (`MixKDLoss`
  with `MixKDMix(partial=1.0, exact_fraction=True)`: every row unmixed), and
  MIX-KD (`MixKDLoss` with the official PMU, `partial=0.9`).
- Seeds 0, 1, 2 for the students; mean and standard deviation of the test
  accuracy; a difference smaller than twice its paired standard error is
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
# The quick smoke test skips XLA compilation (its cost, not its result).
JIT = not STEPS
OUT = pathlib.Path(args.out or tempfile.mkdtemp(prefix="kmix_mix_kd_"))
OUT.mkdir(parents=True, exist_ok=True)

K, SIZE, PATCH, BATCH = 10, 16, 4, 64
(x_train, y_train), (x_test, y_test) = kmix.datasets.load_digits(image_size=SIZE, seed=0)
steps_per_epoch = STEPS or len(y_train) // BATCH

"""
## Models
"""


def vit(seed, dim, depth, heads, **kwargs):
    keras.utils.set_random_seed(seed)
    return kmix.models.ViT(image_size=SIZE, patch_size=PATCH, num_classes=K, num_channels=1,
                           dim=dim, depth=depth, num_heads=heads, mlp_ratio=2, seed=seed, **kwargs)


def optimizer():
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, EPOCHS * steps_per_epoch, alpha=0.05)
    return keras.optimizers.AdamW(schedule, weight_decay=0.05)


def fit(model, loss, seed):
    model.compile(optimizer=optimizer(), loss=loss, jit_compile=JIT)
    model.fit(x_train, y_train, batch_size=BATCH, epochs=EPOCHS, steps_per_epoch=STEPS,
              verbose=0, shuffle=True)
    logits = model.predict(x_test, batch_size=512, verbose=0)
    return float(np.mean(logits.argmax(1) == y_test))


# The quick smoke test uses one-block models (tracing cost, not results).
TEACHER_DEPTH, STUDENT_DEPTH = (1, 1) if STEPS else (3, 2)
teacher = vit(0, 48, TEACHER_DEPTH, 3, mixer=kmix.layers.MixUp(alpha=0.8, num_classes=K, seed=0))
teacher_accuracy = fit(teacher, kmix.losses.MixupCrossentropy(), 0)
print(f"teacher test accuracy: {teacher_accuracy:.3f}")

"""
## Students
"""

STUDENTS = {
    "student alone": lambda s: (vit(s, 24, STUDENT_DEPTH, 2), keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
    "plain KD (no mixing)": lambda s: (
        vit(s, 24, STUDENT_DEPTH, 2, teacher=teacher, save_teacher=False,
            mixer=kmix.layers.MixKDMix(partial=1.0, exact_fraction=True, num_classes=K, seed=s)),
        kmix.losses.MixKDLoss(),
    ),
    "MIX-KD (PMU 0.9)": lambda s: (
        vit(s, 24, STUDENT_DEPTH, 2, teacher=teacher, save_teacher=False,
            mixer=kmix.layers.MixKDMix(partial=0.9, num_classes=K, seed=s)),
        kmix.losses.MixKDLoss(),
    ),
}

results = {name: np.array([fit(*make(seed), seed) for seed in SEEDS]) for name, make in STUDENTS.items()}

"""
## Results
"""


def verdict(name):
    if name == "student alone":
        return "baseline"
    diff = results[name] - results["student alone"]
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("inf")
    word = "within noise" if abs(diff.mean()) <= 2 * se else ("higher" if diff.mean() > 0 else "lower")
    return f"{word} ({100 * diff.mean():+.1f} +- {200 * se:.1f} points)"


lines = [
    f"Digits 16x16, teacher {teacher_accuracy:.3f}, {len(SEEDS)} student seeds, {EPOCHS} epochs"
    + (" (QUICK SMOKE TEST: not results)" if STEPS else ""),
    "",
    "| student | test accuracy | vs alone (paired, 2 SE) |",
    "|---|---|---|",
]
for name, acc in results.items():
    spread = acc.std(ddof=1) if len(acc) > 1 else 0.0
    lines.append(f"| {name} | {acc.mean():.3f} +- {spread:.3f} | {verdict(name)} |")
table = "\n".join(lines)
print(table)
path = OUT / "mix_kd_distillation.md"
path.write_text(table + "\n")
print(f"Wrote {path}")
