"""
Title: Mixing a TensorFlow Datasets pipeline
Author: kmix contributors
Date created: 2026/11/25
Last modified: 2026/11/25
Description: Load a dataset with tfds.load, mix its batches with kmix layers in tf.data, and train on the soft labels; offline, with a tiny TFDS dataset built locally.
Accelerator: None
"""

"""
## Introduction

`tensorflow-datasets` (TFDS) hands out `tf.data.Dataset`s, so a kmix mixer plugs
in with one `ds.map(layer)` after batching. This example:

1. builds a tiny TFDS dataset **locally** (scikit-learn's bundled digits written
   to TFRecords with a `tfds.core.GeneratorBasedBuilder`), so that it runs offline;
2. loads it with `tfds.load(..., data_dir=..., download=False)`, exactly as one
   loads any prepared dataset;
3. preprocesses, batches and mixes it (`RandomMixChoice` of MixUp and CutMix), and
   trains a small CNN on the mixed soft labels.

**With a real dataset.** If you have prepared a TFDS dataset on disk (e.g. once,
online: `tfds.builder("cifar10", data_dir="~/tensorflow_datasets").download_and_prepare()`),
the same code trains on it:

```
python examples/tfds_pipeline.py --dataset cifar10 --data-dir ~/tensorflow_datasets
```

Nothing is downloaded either way (`download=False`). `tensorflow-datasets` is an
optional dependency (`pip install kmix[datasets]`); without it this example says
so and exits.
"""

"""
## Setup
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse
import pathlib
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

import kmix

try:
    import tensorflow_datasets as tfds
except ImportError:
    print(
        "This example needs tensorflow-datasets, which is not installed: "
        "`pip install kmix[datasets]` (or `pip install tensorflow-datasets`). "
        "Nothing to do."
    )
    sys.exit(0)

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--out", default=None, help="folder for outputs (default: a temp dir)")
parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
parser.add_argument(
    "--dataset", default=None, help="a prepared TFDS dataset name, e.g. cifar10 (default: build kmix_digits locally)"
)
parser.add_argument("--data-dir", default=None, help="TFDS data_dir holding --dataset")
args, _ = parser.parse_known_args()
# KMIX_EXAMPLE_STEPS=2 (as in the tests) trains 2 steps per epoch for 1 epoch.
STEPS = int(os.environ.get("KMIX_EXAMPLE_STEPS", "2" if args.quick else "0")) or None
EPOCHS = 1 if STEPS else 8
OUT = pathlib.Path(args.out or tempfile.mkdtemp(prefix="kmix_tfds_"))
OUT.mkdir(parents=True, exist_ok=True)
IMAGE_SIZE = 32
BATCH_SIZE = 64
keras.utils.set_random_seed(0)
tfds.disable_progress_bar()

"""
## A tiny TFDS dataset, built locally

A `GeneratorBasedBuilder` declares the features and yields examples; TFDS writes
them as TFRecord shards with their metadata under `data_dir`. Here the examples
are the 1797 8x8 digits that ship inside scikit-learn, as uint8 images. With a
real dataset you skip this step: its builder comes with TFDS.
"""


class KmixDigits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's bundled 8x8 digits as a TFDS dataset (train/test)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description="scikit-learn's bundled handwritten digits, 8x8 grayscale.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(names=[str(d) for d in range(10)]),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        (x_train, y_train), (x_test, y_test) = kmix.datasets.load_digits(image_size=8, seed=0)
        return {
            "train": self._generate_examples(x_train, y_train),
            "test": self._generate_examples(x_test, y_test),
        }

    def _generate_examples(self, images, labels):
        images = np.round(images * 255).astype("uint8")
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image, "label": int(label)}


if args.dataset is None:
    name = "kmix_digits"
    data_dir = OUT / "tensorflow_datasets"
    KmixDigits(data_dir=str(data_dir)).download_and_prepare()
else:
    name = args.dataset
    data_dir = pathlib.Path(args.data_dir or "~/tensorflow_datasets").expanduser()

"""
## Loading with `tfds.load`

From here on the code is the same for the local dataset and a real one.
`download=False` makes TFDS read what is on disk and fail clearly if it is missing.
"""

(train_raw, test_raw), info = tfds.load(
    name,
    split=["train", "test"],
    data_dir=str(data_dir),
    download=False,
    as_supervised=True,
    with_info=True,
)
NUM_CLASSES = info.features["label"].num_classes
CHANNELS = info.features["image"].shape[-1]
CLASS_NAMES = info.features["label"].names
print(f"{name}: {info.splits['train'].num_examples} train / "
      f"{info.splits['test'].num_examples} test images, {NUM_CLASSES} classes, "
      f"image shape {info.features['image'].shape}")

"""
## Preprocessing and mixing

Images are decoded as uint8; we scale them to `[0, 1]` floats and resize them to
32x32 per example, then batch. The mixer comes **after** `batch`: it pairs images
within a batch. It takes the integer labels from TFDS (it knows `num_classes`) and
returns float32 soft labels `(B, NUM_CLASSES)`.
"""


def preprocess(image, label):
    image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, (IMAGE_SIZE, IMAGE_SIZE))
    return image, label


mixer = kmix.layers.RandomMixChoice(
    [kmix.layers.MixUp(alpha=0.4), kmix.layers.CutMix(alpha=1.0)],
    num_classes=NUM_CLASSES,
    seed=0,
)
train_ds = (
    train_raw.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    .shuffle(2048, seed=0)
    .batch(BATCH_SIZE, drop_remainder=True)
    .map(mixer, num_parallel_calls=tf.data.AUTOTUNE)
    .prefetch(tf.data.AUTOTUNE)
)
test_ds = (
    test_raw.map(preprocess)
    .batch(256)
    .map(lambda image, label: (image, tf.one_hot(label, NUM_CLASSES)))
)
images, soft_labels = next(iter(train_ds))
print("a mixed batch:", images.shape, soft_labels.shape, soft_labels.dtype)

"""
## A look at the data

A batch straight from TFDS (before mixing), mixed with a plan of the same mixer.
"""

raw_images, raw_labels = next(iter(train_raw.map(preprocess).batch(8)))
path = OUT / "tfds_gallery.png"
kmix.visualization.plot_mix_gallery(
    raw_images, labels=raw_labels, class_names=CLASS_NAMES, mixer=mixer,
    path=path, title=f"{name} through RandomMixChoice",
)
print(f"Wrote {path}")

"""
## Training
"""

model = keras.Sequential(
    [
        keras.Input((IMAGE_SIZE, IMAGE_SIZE, CHANNELS)),
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
history = model.fit(
    fit_ds, epochs=EPOCHS, steps_per_epoch=STEPS, validation_data=test_ds, verbose=2
)
_, accuracy = model.evaluate(test_ds, verbose=0)
print(f"test accuracy: {accuracy:.3f}")
path = OUT / "history.txt"
path.write_text(
    "".join(f"{key}: {values}\n" for key, values in sorted(history.history.items()))
)
print(f"Wrote {path}")
