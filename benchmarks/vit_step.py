"""Times a ViT train step with TransMix labels against the same step with plain CutMix labels.

Usage:

    python benchmarks/vit_step.py                 # batch 64, 32x32x3, patch 4, dim 64, depth 4
    python benchmarks/vit_step.py --rounds 10     # quicker

Both models are `kmix.models.ViT` with the same weights and the same CutMix
mixer; one also has `label_layer=kmix.layers.TransMixLabels()`, so its forward
pass hands out the last block's class-token attention and the step's lambda is
refined from it before the loss. Steps are interleaved (one of each per round)
and the median step time is reported with the ratio (goal: at most 1.05 on
CPU), for `jit_compile=False` and `jit_compile=True`.
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

GOAL = 1.05


def build(transmix, args, jit, weights=None):
    keras.utils.set_random_seed(0)
    model = kmix.models.ViT(
        image_size=args.size, patch_size=args.patch, num_classes=args.classes, dim=args.dim,
        depth=args.depth, num_heads=args.heads, drop_path_rate=0.1,
        mixer=kmix.layers.CutMix(num_classes=args.classes, seed=0),
        label_layer=kmix.layers.TransMixLabels() if transmix else None, seed=0,
    )
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=kmix.losses.MixupCrossentropy(),
                  jit_compile=jit)
    return model


def time_pair(args, jit):
    rng = np.random.default_rng(0)
    images = rng.random((args.batch, args.size, args.size, 3), dtype=np.float32)
    labels = rng.integers(0, args.classes, args.batch)
    cutmix = build(False, args, jit)
    transmix = build(True, args, jit, weights=cutmix.get_weights())
    models = {"CutMix labels": cutmix, "TransMix labels": transmix}
    return median_step_ms(models, images, labels, args.rounds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--patch", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    print(
        f"\nViT {args.size}x{args.size}x3 patch {args.patch} dim {args.dim} depth {args.depth} "
        f"heads {args.heads}, batch {args.batch}, CutMix, {args.rounds} interleaved steps, "
        f"median ms, CPU threads={os.cpu_count()}, TF {tf.__version__}, Keras {keras.__version__}\n"
    )
    print("| jit_compile | ViT + CutMix labels ms | ViT + TransMix labels ms | ratio | goal | met |")
    print("|---|---:|---:|---:|---:|---|")
    met_all = True
    for jit in (False, True):
        median = time_pair(args, jit)
        base, refined = median["CutMix labels"], median["TransMix labels"]
        ratio = refined / base
        met = ratio <= GOAL
        met_all &= met
        print(f"| {jit} | {base:.1f} | {refined:.1f} | {ratio:.2f} | {GOAL:.2f} | {'yes' if met else 'NO'} |")
    return 0 if met_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
