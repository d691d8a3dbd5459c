"""The main job: a small ViT trained with each kmix method on real images, offline.

    python -m kmix.demo            # full run (under 10 minutes on 2 CPU cores)
    python -m kmix.demo --quick    # a smoke test of a few steps (the tests run it); its
                                   # numbers are not results, and its table says so

Data: scikit-learn's bundled handwritten digits (1797 images of 8x8, 10 classes; no
download), scaled up to 16x16 (`kmix.datasets.load_digits`). The network is the same
small DeiT-style `kmix.models.ViT` for every method (patch 2, so 64 tokens); mixing
happens inside the compiled train step (`model.fit`), attention-guided labels read the
ViT's own attention, and the mixing losses read the step's plan.

Methods: no mixing, MixUp, CutMix, FMix, TransMix (CutMix + attention labels), MixPro
(MaskMix + progressive attention labels), TL-Align (token-aligned CutMix + aligned
labels), Decoupled Mixup and RankMixup (MRL). Each is trained with `--seeds` seeds and
evaluated on the held-out split.

Writes to `--out` (default `kmix_outputs/`):
- `results.md`: top-1 accuracy, negative log-likelihood and expected calibration error
  (15 bins) per method, mean and spread over seeds (also printed);
- `gallery.png`: one mixed batch per mixer, with masks and label weights;
- `gallery_cutmix.png`: a CutMix batch with partners, masks and label shares;
- `reliability.png`: reliability diagrams of the first seed of each method.
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kmix  # noqa: E402

SMOKE_TEST_NOTE = (
    "**Smoke test (`--quick`): three training steps per method. These numbers only show that "
    "the machinery runs; they are not results.**"
)

NUM_CLASSES = 10
IMAGE_SIZE = 16
PATCH_SIZE = 2
BATCH_SIZE = 64


def methods():
    """`{name: (mixer factory or None, label layer factory or None, loss factory)}`.

    Factories take the seed. The hyper-parameters are the papers' defaults scaled to
    a 16x16 image with 2x2 patches.
    """
    L = kmix.layers
    K = NUM_CLASSES
    ce = lambda: kmix.losses.MixupCrossentropy()  # noqa: E731
    return {
        "none": (None, None, lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
        "MixUp": (lambda s: L.MixUp(alpha=0.8, num_classes=K, seed=s), None, ce),
        "CutMix": (lambda s: L.CutMix(alpha=1.0, num_classes=K, seed=s), None, ce),
        "FMix": (lambda s: L.FMix(alpha=1.0, num_classes=K, seed=s), None, ce),
        "TransMix": (
            lambda s: L.CutMix(alpha=1.0, num_classes=K, seed=s),
            lambda: L.TransMixLabels(),
            ce,
        ),
        "MixPro (MaskMix + PAL)": (
            lambda s: L.MaskMix(mask_patch_size=4, patch_size=PATCH_SIZE, num_classes=K, seed=s),
            lambda: L.ProgressiveAttentionLabels(),
            ce,
        ),
        "TL-Align": (
            lambda s: L.CutMix(alpha=1.0, patch_size=PATCH_SIZE, num_classes=K, seed=s),
            lambda: L.TokenLabelAlignment(),
            ce,
        ),
        "Decoupled Mixup": (
            lambda s: L.MixUp(alpha=0.8, num_classes=K, seed=s),
            None,
            lambda: kmix.losses.DecoupledMixupLoss(),
        ),
        "RankMixup (MRL)": (
            lambda s: L.MixUp(alpha=0.8, num_classes=K, seed=s),
            None,
            lambda: kmix.losses.RankMixupLoss(mode="mrl"),
        ),
    }


def make_vit(mixer, label_layer, seed):
    keras.utils.set_random_seed(seed)
    return kmix.models.ViT(
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        num_classes=NUM_CLASSES,
        dim=48,
        depth=3,
        num_heads=3,
        mlp_ratio=2,
        num_channels=1,
        drop_path_rate=0.05,
        mixer=mixer,
        label_layer=label_layer,
        seed=seed,
    )


def train_and_evaluate(method, train, test, epochs, seed, steps_per_epoch=None, verbose=1,
                       jit_compile=True):
    """Trains one method with one seed; returns `(accuracy, nll, ece, probabilities)`."""
    make_mixer, make_label_layer, make_loss = method
    mixer = make_mixer(seed) if make_mixer else None
    label_layer = make_label_layer() if make_label_layer else None
    model = make_vit(mixer, label_layer, seed)
    total_steps = epochs * (steps_per_epoch or -(-len(train[1]) // BATCH_SIZE))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, max(total_steps, 1), alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.05),
        loss=make_loss(),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    ds = (
        tf.data.Dataset.from_tensor_slices(train)
        .shuffle(len(train[1]), seed=seed)
        .batch(BATCH_SIZE, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    if steps_per_epoch:
        ds = ds.repeat()
    model.fit(ds, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=verbose)
    # One eager call: a predict function per model would be retraced for every method.
    logits = model(test[0], training=False)
    probabilities = tf.nn.softmax(logits).numpy()
    labels = test[1]
    accuracy = float(np.mean(np.argmax(logits, 1) == labels))
    nll = float(-np.mean(np.log(np.maximum(probabilities[np.arange(len(labels)), labels], 1e-12))))
    ece = float(kmix.metrics.expected_calibration_error(labels, probabilities, num_bins=15))
    return accuracy, nll, ece, probabilities


def write_gallery(images, labels, path, seed=0):
    """One mixed batch per input mixer: masks titled with lambda, mixed images."""
    L = kmix.layers
    K = NUM_CLASSES
    mixers = {
        "MixUp": L.MixUp(alpha=0.8, num_classes=K, seed=seed),
        "CutMix": L.CutMix(alpha=1.0, num_classes=K, seed=seed),
        "FMix": L.FMix(alpha=1.0, num_classes=K, seed=seed),
        "ResizeMix": L.ResizeMix(num_classes=K, seed=seed),
        "MaskMix": L.MaskMix(mask_patch_size=4, patch_size=PATCH_SIZE, num_classes=K, seed=seed),
        "CutMix (patch grid)": L.CutMix(alpha=1.0, patch_size=PATCH_SIZE, num_classes=K, seed=seed),
    }
    kmix.visualization.plot_mask_comparison(
        images, mixers, path=path, num_images=8,
        title="kmix mixers on digits: own-pixel masks (titled with lambda) and mixed images",
    )
    # And one full gallery (partners and label weights) for CutMix.
    gallery_path = pathlib.Path(path).with_name("gallery_cutmix.png")
    kmix.visualization.plot_mix_gallery(
        images, labels=labels, mixer=L.CutMix(alpha=1.0, num_classes=K, seed=seed),
        path=gallery_path, num_images=8, title="CutMix: images, partners, masks, mixed labels",
    )
    return gallery_path


def main(argv=None):
    parser = argparse.ArgumentParser(description="kmix main job")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test of three steps per method; its numbers are not results")
    parser.add_argument("--epochs", type=int, default=None, help="default 12 (quick: 1)")
    parser.add_argument("--seeds", type=int, default=None, help="default 2 (quick: 1)")
    parser.add_argument("--out", default="kmix_outputs")
    parser.add_argument("--methods", default=None, help="comma-separated subset of the names")
    args = parser.parse_args(argv)
    epochs = args.epochs or (1 if args.quick else 12)
    seeds = args.seeds or (1 if args.quick else 2)
    steps_per_epoch = 3 if args.quick else None
    verbose = 2 if args.quick else 1

    chosen = methods()
    if args.methods:
        wanted = args.methods.split(",")
        unknown = sorted(set(wanted) - set(chosen))
        if unknown:
            raise ValueError(
                f"`--methods` must name methods among {sorted(chosen)}. Received unknown: {unknown}"
            )
        chosen = {k: v for k, v in chosen.items() if k in wanted}

    train, test = kmix.datasets.load_digits(image_size=IMAGE_SIZE)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    gallery = write_gallery(train[0][:8], train[1][:8], out / "gallery.png")

    start = time.time()
    rows, first_seed = [], {}
    for name, method in chosen.items():
        scores = []
        for seed in range(seeds):
            print(f"== {name}, seed {seed}", flush=True)
            accuracy, nll, ece, probabilities = train_and_evaluate(
                method, train, test, epochs, seed, steps_per_epoch, verbose,
                # XLA compiles a faster step but takes longer to compile than a
                # smoke run of three steps lasts.
                jit_compile=not args.quick,
            )
            scores.append((accuracy, nll, ece))
            first_seed.setdefault(name, probabilities)
        scores = np.array(scores)
        rows.append((name, scores.mean(0), scores.std(0)))

    table = [SMOKE_TEST_NOTE, ""] if args.quick else []
    table += [
        f"scikit-learn digits at {IMAGE_SIZE}x{IMAGE_SIZE}, {len(train[1])} train / "
        f"{len(test[1])} test images; ViT (patch {PATCH_SIZE}, dim 48, depth 3), "
        f"{epochs} epoch(s){' of ' + str(steps_per_epoch) + ' steps' if steps_per_epoch else ''}, "
        f"{seeds} seed(s); mean ± std over seeds; ECE with 15 bins",
        "",
        "| method | top-1 accuracy (%) | NLL | ECE (%) |",
        "|---|---:|---:|---:|",
    ]
    for name, mean, std in rows:
        table.append(
            f"| {name} | {100 * mean[0]:.1f} ± {100 * std[0]:.1f} | "
            f"{mean[1]:.3f} ± {std[1]:.3f} | {100 * mean[2]:.2f} ± {100 * std[2]:.2f} |"
        )
    text = "\n".join(table)
    print("\n" + text)
    (out / "results.md").write_text(text + "\n")
    kmix.visualization.plot_reliability_diagrams(
        test[1], first_seed, num_bins=15, path=out / "reliability.png", columns=5,
        title="Reliability on the held-out digits (first seed of each method)",
    )
    print(
        f"\nwrote {out / 'results.md'}, {out / 'gallery.png'}, {gallery} and "
        f"{out / 'reliability.png'} in {time.time() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
