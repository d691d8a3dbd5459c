"""
Title: Mixing a detection batch: boxes that follow the pixels
Author: kmix contributors
Date created: 2026/12/06
Last modified: 2026/12/06
Description: MixUp, CutMix, FMix, ResizeMix, MaskMix and Mosaic on a detection batch in a tf.data pipeline, with the boxes each keeps drawn on the mixed images.
Accelerator: None
"""

"""
## Introduction

Detection data carries boxes: `{"boxes": (B, N, 4), "labels": (B, N)}`, Keras's
format, padded with -1 (or ragged). A mixing layer must say where every object
of the mixed image is:

- **MixUp** blends everywhere, so every row keeps both images' boxes;
- **CutMix**, **FMix**, **ResizeMix** and **MaskMix** paste part of the partner:
  a row keeps its own boxes where enough of them stays visible and gains the
  partner's boxes where enough of them shows through the pasted region
  (`min_visibility`, default 0.1), each clipped to the pixels that show.
  ResizeMix pastes the whole partner shrunk, so its boxes shrink with it;
- **Mosaic** puts four images around a random centre and moves their boxes.

Each layer reads the boxes in any Keras `bounding_box_format` and returns them
in the same format. This example builds a synthetic detection set (coloured
rectangles, class = colour), mixes it in a parallel `tf.data` map, checks that
every kept box holds pixels of its class colour, and draws the boxes with
`kmix.visualization.plot_bounding_boxes`. It trains nothing and runs in seconds.
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
import tensorflow as tf

import kmix

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--out", default=None, help="folder for the figures (default: a temp dir)")
parser.add_argument("--quick", action="store_true", help="accepted for uniformity; this example is quick")
args, _ = parser.parse_known_args()
OUT = pathlib.Path(args.out or tempfile.mkdtemp(prefix="kmix_detection_"))
OUT.mkdir(parents=True, exist_ok=True)

"""
## A synthetic detection set

Sixteen 64x64 images, each with one to three rectangles (not overlapping) on a
dark noisy background; the class is the colour. Boxes are `xyxy` pixels, padded with -1
to three per image.
"""

CLASS_NAMES = ["red", "green", "blue"]
COLOURS = np.array([[0.95, 0.2, 0.2], [0.2, 0.9, 0.3], [0.25, 0.4, 0.95]], np.float32)
SIZE, MAX_BOXES, COUNT = 64, 3, 16
rng = np.random.default_rng(0)
images = rng.uniform(0.0, 0.15, (COUNT, SIZE, SIZE, 3)).astype(np.float32)
boxes = np.full((COUNT, MAX_BOXES, 4), -1.0, np.float32)
box_labels = np.full((COUNT, MAX_BOXES), -1, np.int32)
for i in range(COUNT):
    wanted, n = rng.integers(1, MAX_BOXES + 1), 0
    for _ in range(50):  # tries
        if n == wanted:
            break
        w, h = rng.integers(10, 30, 2)
        x1, y1 = rng.integers(0, SIZE - w), rng.integers(0, SIZE - h)
        if images[i, y1:y1 + h, x1:x1 + w].max() > 0.15:
            continue  # objects do not overlap: each box shows only its object
        k = rng.integers(len(CLASS_NAMES))
        images[i, y1:y1 + h, x1:x1 + w] = COLOURS[k]
        boxes[i, n] = [x1, y1, x1 + w, y1 + h]
        box_labels[i, n] = k
        n += 1
image_labels = box_labels[:, 0]  # one class per image too, for the classification labels
print("images:", images.shape, "boxes:", boxes.shape, "boxes per image:", (box_labels >= 0).sum(1).tolist())

"""
## The mixers, in a parallel tf.data map

Every box-moving layer takes `bounding_box_format`; MixUp moves no coordinate
and needs none. `num_classes` lets them mix the image labels (class ids) too.
"""

common = {"num_classes": len(CLASS_NAMES)}
mixers = {
    "MixUp": kmix.layers.MixUp(alpha=1.0, seed=1, **common),
    "CutMix": kmix.layers.CutMix(lam_scope="sample", bounding_box_format="xyxy", seed=2, **common),
    "FMix": kmix.layers.FMix(bounding_box_format="xyxy", seed=3, **common),
    "ResizeMix": kmix.layers.ResizeMix(lam_scope="sample", bounding_box_format="xyxy", seed=4, **common),
    "MaskMix": kmix.layers.MaskMix(
        mask_patch_size=16, patch_size=8, lam_scope="sample", bounding_box_format="xyxy", seed=5, **common
    ),
    "Mosaic": kmix.layers.Mosaic(bounding_box_format="xyxy", seed=6, **common),
}
data = {"images": images, "labels": image_labels, "bounding_boxes": {"boxes": boxes, "labels": box_labels}}

"""
## Mix, check, draw

For each mixer: one batch of eight from the pipeline; the count of boxes in
and out; for the mixers that paste pixels, a check that every kept box holds
pixels of its class colour (the object really shows there; MixUp blends the
colours, so its boxes show at the image's weight); and a figure of the eight
images with their boxes.
"""


def shows_its_colour(image, box, label):
    x1, y1, x2, y2 = np.round(box).astype(int)
    patch = image[y1:y2, x1:x2]
    return bool(np.any(np.all(np.abs(patch - COLOURS[label]) < 0.02, axis=-1)))


for name, mixer in mixers.items():
    ds = tf.data.Dataset.from_tensor_slices(data).batch(8).map(mixer, num_parallel_calls=tf.data.AUTOTUNE)
    batch = next(iter(ds))
    out_boxes = batch["bounding_boxes"]["boxes"].numpy()
    out_labels = batch["bounding_boxes"]["labels"].numpy()
    mixed = batch["images"].numpy()
    kept = out_labels >= 0
    line = (
        f"{name:>9}: boxes {tuple(out_boxes.shape)}, {int(kept.sum())} kept (own and partners'; "
        f"the source batch holds {int((box_labels[:8] >= 0).sum())})"
    )
    if name != "MixUp":
        checked = all(
            shows_its_colour(mixed[i], out_boxes[i, j], out_labels[i, j]) for i, j in zip(*np.nonzero(kept))
        )
        line += f"; every kept box shows its colour: {checked}"
    print(line)
    path = OUT / f"boxes_{name.lower()}.png"
    kmix.visualization.plot_bounding_boxes(
        mixed, batch["bounding_boxes"], "xyxy", path=path, num_images=8, class_names=CLASS_NAMES,
        title=f"{name}: mixed images and the boxes it keeps",
    )
    print(f"Wrote {path}")

"""
## Other formats and ragged boxes

The layers read and write every Keras format; here the same CutMix reads
`rel_yxyx` boxes from a ragged batch (no padding) and returns ragged boxes.
"""

rel = np.where(boxes[..., :1] >= 0, boxes[..., [1, 0, 3, 2]] / SIZE, -1.0).astype(np.float32)
lengths = (box_labels >= 0).sum(1)
ragged = {
    "boxes": tf.RaggedTensor.from_tensor(rel, lengths=lengths),
    "labels": tf.RaggedTensor.from_tensor(box_labels, lengths=lengths),
}
cutmix = kmix.layers.CutMix(bounding_box_format="rel_yxyx", seed=2, **common)
out = cutmix({"images": images[:8], "labels": image_labels[:8],
              "bounding_boxes": {"boxes": ragged["boxes"][:8], "labels": ragged["labels"][:8]}})
print("ragged rel_yxyx boxes per image:", out["bounding_boxes"]["boxes"].row_lengths().numpy().tolist())
