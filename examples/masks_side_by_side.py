"""
Title: CutMix, FMix, ResizeMix and MaskMix masks side by side
Author: kmix contributors
Date created: 2026/11/25
Last modified: 2026/11/25
Description: Draw one plan with each mask-based mixer on the same images and compare their masks, label weights and mixed images.
Accelerator: None
"""

"""
## Introduction

The mask-based members of the mixup family differ only in *which* pixels of an
image are replaced by its partner's:

- **CutMix** pastes one axis-aligned box of the partner;
- **FMix** keeps a low-frequency blob of random shape, thresholded from a
  Fourier-space random field, covering an exact share of the pixels;
- **ResizeMix** pastes the *whole* partner, shrunk, into a box;
- **MaskMix** (MixPro) keeps a random set of grid cells whose sides are multiples
  of a ViT patch, so that every token comes wholly from one image;
- **MixUp**, for comparison, blends the two images everywhere with one weight.

In kmix all of them produce the same `kmix.MixPlan`: a partner index, a mask of
each image's *own* pixels, and `lam`, the weight of its own label, **measured**
as the mean of that mask. This example draws a plan from each mixer on the same
images and puts them side by side. It trains nothing and runs in seconds.

The images are synthetic coloured shapes (`kmix.datasets.make_shapes_dataset`),
so it is easy to see which pixels came from which image.
"""

"""
## Setup
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse
import pathlib
import tempfile

import numpy as np

import kmix

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--out", default=None, help="folder for the figures (default: a temp dir)")
parser.add_argument("--quick", action="store_true", help="accepted for uniformity; this example is quick")
args, _ = parser.parse_known_args()
OUT = pathlib.Path(args.out or tempfile.mkdtemp(prefix="kmix_masks_"))
OUT.mkdir(parents=True, exist_ok=True)

NUM_CLASSES = 4
images, labels = kmix.datasets.make_shapes_dataset(
    8, image_size=64, num_classes=NUM_CLASSES, seed=0
)
class_names = list(kmix.datasets.SHAPE_NAMES[:NUM_CLASSES])
print("images:", images.shape, "classes:", [class_names[k] for k in labels])

"""
## The mixers

All use `alpha=1.0` (a uniform mixing ratio) and `lam_scope="sample"`, so every
image draws its own ratio and the differences show within one picture;
`num_classes` lets them take class ids. Each layer has its own seed: the same
seed always gives the same plan.
"""

common = {"lam_scope": "sample", "num_classes": NUM_CLASSES}
mixers = {
    "CutMix": kmix.layers.CutMix(alpha=1.0, seed=1, **common),
    "FMix": kmix.layers.FMix(alpha=1.0, decay_power=3.0, seed=2, **common),
    "ResizeMix": kmix.layers.ResizeMix(scope=(0.1, 0.8), seed=3, **common),
    "MaskMix": kmix.layers.MaskMix(
        alpha=1.0, mask_patch_size=16, patch_size=8, seed=4, **common
    ),
    "MixUp": kmix.layers.MixUp(alpha=1.0, seed=5, **common),
}

"""
## One plan per mixer

`sample_plan` draws the plan; its `lam` is the mean of its mask by construction.
Binary-mask mixers keep between 0 and all of the pixels; MixUp's mask is a
single weight per image.
"""

for name, mixer in mixers.items():
    plan = mixer.sample_plan(images)
    mask = plan.mask.numpy()
    print(
        f"{name:>9}: mask {tuple(mask.shape)}, lam {np.round(plan.lam.numpy()[:4], 3)} ..., "
        f"lam == mean(mask): {np.allclose(plan.lam, mask.mean(axis=(1, 2, 3)), atol=1e-6)}"
    )

"""
## Side by side

For each mixer, a row of masks (white = the image's own pixels, titled with
`lam`) and a row of the mixed images. `plot_mask_comparison` draws a fresh plan
from each mixer (their seed generators advance), and mixes with each mixer's own
`mix_images`, so ResizeMix really pastes the shrunk partner.
"""

path = OUT / "masks_side_by_side.png"
kmix.visualization.plot_mask_comparison(
    images, mixers, path=path, num_images=6, title="Own-pixel masks and mixed images"
)
print(f"Wrote {path}")

"""
## One mixer in detail

The gallery shows, for FMix, each image, its partner, the mask and the mixed
result with the two label shares.
"""

path = OUT / "fmix_gallery.png"
kmix.visualization.plot_mix_gallery(
    images, labels=labels, class_names=class_names, mixer=mixers["FMix"], num_images=6,
    path=path, title="FMix",
)
print(f"Wrote {path}")

"""
## Labels follow the masks

Calling a layer on `(images, class_ids)` mixes the labels with the same plan: the
weight of each image's own class is `lam`, the rest goes to the partner's class.
"""

mixed_images, mixed_labels = mixers["MaskMix"](images, labels)
print("MaskMix soft labels of the first two images:")
print(np.round(mixed_labels.numpy()[:2], 3))
