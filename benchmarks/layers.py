"""Times kmix's mixing layers against Keras core and KerasCV on the same batch.

Usage (CPU, needs the `bench` extra for KerasCV):

    pip install -e ".[bench]"
    python benchmarks/layers.py            # 64x224x224x3 float32, as in the README
    python benchmarks/layers.py --both     # and 256x32x32x3 (CIFAR size), side by side
    python benchmarks/layers.py --batch 16 --size 64 --rounds 3   # a quick look

Every layer is called on the same `{"images", "labels"}` batch inside
`tf.function` (no `jit_compile` on the caller: kmix compiles its own fused
kernels). Rounds are interleaved (one call of every contender per round) and
the median per contender is reported, with its ratio to the anchor it must
beat and to the memory-traffic floor: one blend of two batches,
`lam * x + (1 - lam) * take(x, perm)`, run as plain TensorFlow ops.
`--rounds` counts the rounds of a 64x224x224x3 batch; a smaller batch runs
proportionally more (the same number of pixels), so that its millisecond
timings get a median as steady (at 256x32x32x3, 12 times the rounds).
"""

import argparse
import math
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kmix  # noqa: E402

# (contender, anchor, goal): kmix time must be at most goal * anchor time.
GOALS = [
    ("kmix MixUp", "keras MixUp", 1.10),
    ("kmix CutMix", "keras-cv CutMix", 0.60),
    ("kmix FMix", "keras-cv FourierMix", 0.20),
]


ATTENTIVE = "kmix AttentiveMix (given features)"


def contenders(num_classes, image_size=224):
    out = {
        "kmix MixUp": kmix.layers.MixUp(num_classes=num_classes, seed=0),
        "kmix CutMix": kmix.layers.CutMix(num_classes=num_classes, seed=0),
        "kmix CutMix (per sample)": kmix.layers.CutMix(
            num_classes=num_classes, lam_scope="sample", seed=0
        ),
    }
    for name, kwargs in [
        ("FMix", {}),
        ("ResizeMix", {}),
        # MixPro's ImageNet cells (32 px on patch 16) at 224 px; 8 px cells on
        # patch 4 at CIFAR size (a one-cell grid would never mix).
        ("MaskMix", {"mask_patch_size": 32, "patch_size": 16} if image_size >= 64
         else {"mask_patch_size": 8, "patch_size": 4}),
        ("GridMix", {}),
        ("SmoothMix", {}),
        ("SaliencyMix", {}),
        ("GuidedMixup", {}),
    ]:
        if hasattr(kmix.layers, name):
            out[f"kmix {name}"] = getattr(kmix.layers, name)(
                num_classes=num_classes, seed=0, **kwargs
            )
    # The official FMix: one mask for the batch (kmix's default draws one per row).
    out["kmix FMix (one mask per batch)"] = kmix.layers.FMix(
        num_classes=num_classes, mask_scope="batch", seed=0
    )
    if hasattr(kmix.layers, "SaliencyMix"):
        out["kmix SaliencyMix (per sample)"] = kmix.layers.SaliencyMix(
            num_classes=num_classes, saliency_scope="sample", lam_scope="sample", seed=0
        )
    if hasattr(kmix.layers, "AttentiveMix"):
        # The mixer's own cost: the teacher's feature maps are given (a network's
        # forward pass is the user's model, not the mixer's).
        out[ATTENTIVE] = kmix.layers.AttentiveMix(num_classes=num_classes, seed=0)
    out["keras MixUp"] = keras.layers.MixUp()
    out["keras CutMix"] = keras.layers.CutMix()
    try:
        import keras_cv

        out["keras-cv MixUp"] = keras_cv.layers.MixUp()
        out["keras-cv CutMix"] = keras_cv.layers.CutMix()
        out["keras-cv FourierMix"] = keras_cv.layers.FourierMix()
    except Exception as error:  # keras-cv is an optional extra
        print(f"keras-cv not available ({type(error).__name__}: {error}); its rows are skipped")
    return out


def measure(batch, size, rounds, num_classes):
    """Median ms per contender on one `batch x size x size x 3` float32 batch."""
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((batch, size, size, 3), dtype=np.float32))
    classes = np.arange(batch) % num_classes
    one_hot = tf.constant(np.eye(num_classes, dtype=np.float32)[classes])
    perm = tf.random.shuffle(tf.range(batch), seed=1)
    lam = tf.random.uniform((batch, 1, 1, 1), seed=2)

    @tf.function
    def floor(x):
        return lam * x + (1.0 - lam) * tf.gather(x, perm)

    fns = {"floor (one blend)": lambda: floor(images)}
    for name, layer in contenders(num_classes, size).items():
        labels = one_hot  # Keras core and KerasCV only take one-hot labels
        fn = tf.function(lambda d, layer=layer: layer(d, training=True)["images"])
        data = {"images": images, "labels": labels}
        if name == ATTENTIVE:
            # 7x7 (224 px) or 8x8 (32 px) cells, 64 channels.
            cells = 7 if size >= 64 else 8
            data["features"] = tf.constant(rng.random((batch, cells, cells, 64), dtype=np.float32))
        fns[name] = lambda fn=fn, data=data: fn(data)

    for fn in fns.values():  # trace, compile and warm up
        for _ in range(2):
            fn().numpy()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn().numpy()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def scaled_rounds(rounds, batch, size):
    """`rounds` for 64x224x224 images, scaled up to the same pixel count for smaller batches."""
    return max(rounds, math.ceil(rounds * (64 * 224 * 224) / (batch * size * size)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument(
        "--rounds", type=int, default=9,
        help="rounds at 64x224x224x3; smaller batches run proportionally more",
    )
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument(
        "--both", action="store_true",
        help="also time 256x32x32x3 (CIFAR size) and print both shapes side by side",
    )
    args = parser.parse_args(argv)

    shapes = [(args.batch, args.size)]
    if args.both and (args.batch, args.size) != (256, 32):
        shapes.append((256, 32))
    rounds = [scaled_rounds(args.rounds, b, s) for b, s in shapes]
    medians = [measure(b, s, r, args.classes) for (b, s), r in zip(shapes, rounds)]
    median = medians[0]
    print(
        f"\n{' and '.join(map(str, rounds))} interleaved rounds, median ms, float32, CPU threads={os.cpu_count()}, "
        f"TF {tf.__version__}, Keras {keras.__version__}\n"
    )
    header = " | ".join(f"{b}x{s}x{s}x3 ms | x floor" for b, s in shapes)
    print(f"| layer | {header} |\n|---|" + "---:|---:|" * len(shapes))
    for name in median:
        cells = []
        for values in medians:
            ms, floor_ms = values.get(name), values["floor (one blend)"]
            cells.append("- | -" if ms is None else f"{ms:.1f} | {ms / floor_ms:.2f}")
        print(f"| {name} | {' | '.join(cells)} |")
    print(
        f"\n| goal ({shapes[0][0]}x{shapes[0][1]}x{shapes[0][1]}x3) | kmix ms | anchor ms | ratio "
        "| goal | met |\n|---|---:|---:|---:|---:|---|"
    )
    met_all = True
    for mine, anchor, goal in GOALS:
        if mine not in median or anchor not in median:
            print(f"| {mine} vs {anchor} | - | - | - | {goal:.2f} | not measured |")
            continue
        ratio = median[mine] / median[anchor]
        met = ratio <= goal
        met_all &= met
        print(
            f"| {mine} vs {anchor} | {median[mine]:.1f} | {median[anchor]:.1f} | "
            f"{ratio:.2f} | {goal:.2f} | {'yes' if met else 'NO'} |"
        )
    return 0 if met_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
