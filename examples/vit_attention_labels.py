"""
Title: Attention-guided labels for a ViT: TransMix, PAL and TL-Align
Author: kmix contributors
Date created: 2026/11/25
Last modified: 2026/11/25
Description: Train a small kmix ViT with area labels and with labels refined from its own attention (TransMix, MixPro's PAL, TL-Align), and look at how the refined lambdas differ from the area.
Accelerator: None
"""

"""
## Introduction

With CutMix, the label of a mixed image weights each class by the *area* it
covers. For a vision transformer, three methods use the network's own attention
instead, in the same training step:

- **TransMix** (`kmix.layers.TransMixLabels`): `lam = 0.5 * (area + share of the
  class token's attention on the image's own patches)`, last block;
- **PAL**, MixPro's Progressive Attention Labeling
  (`kmix.layers.ProgressiveAttentionLabels`): `alpha * attention share +
  (1 - alpha) * area`, with `alpha` the cosine similarity between the target and
  the prediction (trust the attention once the model predicts well); used with
  MixPro's `MaskMix`;
- **TL-Align** (`kmix.layers.TokenLabelAlignment`): propagates per-token labels
  through the attention of *every* block (closed form), with a token-aligned
  CutMix.

In kmix these are *label layers*: given to `kmix.models.ViT(...,
label_layer=...)`, they replace only `lam` of each step's plan, computed from the
attention of the training forward pass itself (gradient stopped). The loss is
an ordinary `MixupCrossentropy`.

The data are scikit-learn's bundled digits (no download) at 16x16, with 4x4
patches (16 tokens); the ViTs are tiny and randomly initialised, so the whole run
takes under a minute on a CPU. The accuracies of such a short run are noisy.
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
OUT = pathlib.Path(args.out or tempfile.mkdtemp(prefix="kmix_vit_labels_"))
OUT.mkdir(parents=True, exist_ok=True)

NUM_CLASSES = 10
IMAGE_SIZE = 16
PATCH_SIZE = 4
(x_train, y_train), (x_test, y_test) = kmix.datasets.load_digits(image_size=IMAGE_SIZE, seed=0)

"""
## Four recipes

Each recipe is a mixer and an optional label layer. CutMix with
`patch_size=PATCH_SIZE` pastes boxes on the token grid (TL-Align's setting);
MaskMix's cells are whole multiples of the patch.
"""

RECIPES = {
    "CutMix, area labels": (
        lambda: kmix.layers.CutMix(num_classes=NUM_CLASSES, seed=0),
        lambda: None,
    ),
    "CutMix + TransMix": (
        lambda: kmix.layers.CutMix(num_classes=NUM_CLASSES, seed=0),
        lambda: kmix.layers.TransMixLabels(),
    ),
    "MaskMix + PAL": (
        lambda: kmix.layers.MaskMix(
            mask_patch_size=8, patch_size=PATCH_SIZE, num_classes=NUM_CLASSES, seed=0
        ),
        lambda: kmix.layers.ProgressiveAttentionLabels(),
    ),
    "token CutMix + TL-Align": (
        lambda: kmix.layers.CutMix(patch_size=PATCH_SIZE, num_classes=NUM_CLASSES, seed=0),
        lambda: kmix.layers.TokenLabelAlignment(),
    ),
}


def make_vit(mixer, label_layer):
    keras.utils.set_random_seed(0)
    return kmix.models.ViT(
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        num_classes=NUM_CLASSES,
        dim=32,
        depth=2,
        num_heads=2,
        mlp_ratio=2,
        num_channels=1,
        mixer=mixer,
        label_layer=label_layer,
        seed=0,
    )


"""
## Training
"""

models = {}
for name, (make_mixer, make_label_layer) in RECIPES.items():
    vit = make_vit(make_mixer(), make_label_layer())
    vit.compile(optimizer=keras.optimizers.Adam(2e-3), loss=kmix.losses.MixupCrossentropy())
    vit.fit(x_train, y_train, batch_size=64, epochs=EPOCHS, steps_per_epoch=STEPS, verbose=0)
    # The test split fits in one batch: call the model directly (Keras's advice for
    # small inputs), which skips tracing a predict function.
    logits = vit(x_test, training=False)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    print(f"{name:>24}: test accuracy {accuracy:.3f}")
    models[name] = (vit, accuracy)

"""
## Area versus attention

The label layers call functions of `kmix.ops` that you can also call yourself.
Take one CutMix plan, run the trained TransMix ViT on the mixed batch, and compare
the area `lam` with the TransMix and TL-Align weights computed from its
attention. `kmix.ops.token_mask` reads the plan's pixel mask at each token's
top-left pixel, as the official TransMix code.
"""

vit, _ = models["CutMix + TransMix"]
mixer = kmix.layers.CutMix(patch_size=PATCH_SIZE, num_classes=NUM_CLASSES, seed=7)
images, labels = x_test[:8], y_test[:8]
plan = mixer.sample_plan(images)
mixed = mixer.mix_images(images, plan)
token_mask = kmix.ops.token_mask(plan.mask, PATCH_SIZE)  # (B, N)
# Last block, class-token row over the patch keys, mean over heads: (B, N).
cls_attention = vit.forward(mixed, attention="cls")["cls_attention"]
# Every block's head-mean attention, class token first: (L, B, 1 + N, 1 + N).
attentions = vit.forward(mixed, attention="all")["attentions"]
lam_transmix = kmix.ops.transmix_lambda(plan.lam, token_mask, cls_attention)
lam_tl_align = kmix.ops.tl_align_lambda(plan.lam, token_mask, attentions)
print("row | area lam | TransMix lam | TL-Align lam")
for i in range(len(images)):
    print(f"{i:>3} | {float(plan.lam[i]):8.3f} | {float(lam_transmix[i]):12.3f} | "
          f"{float(lam_tl_align[i]):12.3f}")

path = OUT / "vit_cutmix_gallery.png"
kmix.visualization.plot_mix_gallery(
    images, plan, labels=labels, mixed_images=mixed, path=path,
    title="Token-aligned CutMix: area lam (TransMix/TL-Align refine it from attention)",
)
print(f"Wrote {path}")

path = OUT / "vit_attention_labels.md"
path.write_text(
    "| recipe | test accuracy |\n|---|---:|\n"
    + "".join(f"| {name} | {acc:.3f} |\n" for name, (_, acc) in models.items())
)
print(f"Wrote {path}")
