"""Times a MixingModel train step with CutMix against the same network as a plain keras.Model.

Usage:

    python benchmarks/train_step.py                 # batch 128, 32x32x3, XLA off and on
    python benchmarks/train_step.py --rounds 5      # quicker

The two models share the architecture and the initial weights; the plain model
trains on the labels as they are (sparse cross-entropy), the MixingModel mixes
every batch in-graph with CutMix and trains with `kmix.losses.MixupCrossentropy`.
Steps are interleaved (one of each per round) and the median step time is
reported, with the ratio (goal: at most 1.10 on CPU), for `jit_compile=False`
and `jit_compile=True`.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kmix  # noqa: E402
from _timing import median_step_ms  # noqa: E402  (benchmarks/ is the script's folder)

GOAL = 1.10


def small_cnn(inputs, num_classes):
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(num_classes)(x)


def build(kind, image_size, num_classes, jit, weights=None):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((image_size, image_size, 3))
    outputs = small_cnn(inputs, num_classes)
    if kind == "plain":
        model = keras.Model(inputs, outputs)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        model = kmix.models.MixingModel(
            inputs, outputs, mixer=kmix.layers.CutMix(num_classes=num_classes, seed=0)
        )
        loss = kmix.losses.MixupCrossentropy()
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss, jit_compile=jit)
    return model


def time_pair(batch, image_size, num_classes, rounds, jit):
    rng = np.random.default_rng(0)
    images = rng.random((batch, image_size, image_size, 3), dtype=np.float32)
    labels = rng.integers(0, num_classes, batch)
    plain = build("plain", image_size, num_classes, jit)
    mixing = build("mixing", image_size, num_classes, jit, weights=plain.get_weights())
    models = {"keras.Model": plain, "kmix MixingModel + CutMix": mixing}
    return median_step_ms(models, images, labels, rounds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    print(
        f"\nsmall CNN, batch {args.batch}, {args.size}x{args.size}x3, {args.rounds} interleaved "
        f"steps, median ms, CPU threads={os.cpu_count()}, TF {tf.__version__}, Keras {keras.__version__}\n"
    )
    print("| jit_compile | keras.Model ms | MixingModel + CutMix ms | ratio | goal | met |")
    print("|---|---:|---:|---:|---:|---|")
    met_all = True
    for jit in (False, True):
        median = time_pair(args.batch, args.size, args.classes, args.rounds, jit)
        plain, mixing = median["keras.Model"], median["kmix MixingModel + CutMix"]
        ratio = mixing / plain
        met = ratio <= GOAL
        met_all &= met
        print(f"| {jit} | {plain:.1f} | {mixing:.1f} | {ratio:.2f} | {GOAL:.2f} | {'yes' if met else 'NO'} |")
    return 0 if met_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
