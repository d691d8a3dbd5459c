"""The main job: what mixing buys a small ViT on real images, over seeds, offline.

    python -m kmix.demo            # default: 5 methods x 3 seeds (under 10 minutes on 2 CPU cores)
    python -m kmix.demo --all      # every method
    python -m kmix.demo --quick    # a smoke test of a few steps (the tests run it); its
                                   # numbers are not results, and its table says so

Data: scikit-learn's bundled handwritten digits (1797 images of 8x8, 10 classes; no
download), scaled up to 16x16 (`kmix.datasets.load_digits`, its fixed split: 1348 train
and 449 test images). The last `VALIDATION_SIZE` training images are held out as a
validation split, used only to fit each model's softmax temperature.

Protocol, fixed before any result was seen and the same for every method:

- Model: `kmix.models.ViT`, patch 4 (16 tokens: attention's cost grows with the square of
  the token count, and 4x4 patches of a 16x16 digit still see strokes), dim 48, depth 3,
  3 heads, MLP ratio 2, drop path 0.05. Large enough to fit the training set, small
  enough to train 15 runs on two CPU cores.
- Schedule: AdamW (learning rate 2e-3, weight decay 0.05), cosine decay to 5% with a
  linear warm-up over the first 5 epochs, batch 64, `EPOCHS` epochs. Mixing is a
  regulariser: it can only pay off once the unmixed model has fitted its training set, so
  the budget is sized for that, and the job reports the baseline's final training
  accuracy to show it.
- Seeds: 0, 1, 2 (`--seeds`). A seed sets the initial weights, the data order and the
  mixing draws; seed `s` of every method sees the same initial weights and data order,
  which makes the differences to no mixing paired.
- Speed: each method's train step is compiled once (XLA) and reused for every seed:
  weights, optimiser state and seed generators are reset from a freshly built model of
  that seed. Evaluation is one compiled forward pass over the whole split.

Reported per method: test top-1 accuracy, NLL and ECE (15 bins), mean ± std over seeds
(sample std); the paired difference to no mixing with a 95% t-interval over seeds; ECE
and NLL after temperature scaling fitted on the validation split; learning curves.

Writes to `--out` (default `kmix_outputs/`):
- `results.md`: the tables and the sentences that read them (also printed);
- `learning_curves.png`: test accuracy and NLL per epoch, mean over seeds, per method;
- `differences.png`: paired differences to no mixing with their 95% intervals;
- `reliability.png`: reliability diagrams of the first seed of each method;
- `gallery.png`: one mixed batch per mixer, with masks and label weights;
- `gallery_cutmix.png`: a CutMix batch with partners, masks and label shares.
"""

import argparse
import math
import os
import pathlib
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kmix  # noqa: E402
from kmix.demo import protocol  # noqa: E402,F401
from kmix.demo.method_runner import MethodRunner  # noqa: E402,F401
from kmix.demo.protocol import BATCH_SIZE  # noqa: E402,F401
from kmix.demo.protocol import DEFAULT_METHODS  # noqa: E402,F401
from kmix.demo.protocol import ECE_BINS  # noqa: E402,F401
from kmix.demo.protocol import EPOCHS  # noqa: E402,F401
from kmix.demo.protocol import EVAL_BATCH  # noqa: E402,F401
from kmix.demo.protocol import IMAGE_SIZE  # noqa: E402,F401
from kmix.demo.protocol import METRICS  # noqa: E402,F401
from kmix.demo.protocol import NUM_CLASSES  # noqa: E402,F401
from kmix.demo.protocol import PATCH_SIZE  # noqa: E402,F401
from kmix.demo.protocol import SEEDS  # noqa: E402,F401
from kmix.demo.protocol import SMOKE_TEST_NOTE  # noqa: E402,F401
from kmix.demo.protocol import VALIDATION_SIZE  # noqa: E402,F401
from kmix.demo.protocol import VIT  # noqa: E402,F401
from kmix.demo.protocol import WARMUP_EPOCHS  # noqa: E402,F401
from kmix.demo.protocol import load_data  # noqa: E402,F401
from kmix.demo.protocol import methods  # noqa: E402,F401
from kmix.demo.protocol import make_vit  # noqa: E402,F401
from kmix.demo.protocol import scores  # noqa: E402,F401
from kmix.demo.warmup_cosine import WarmupCosine  # noqa: E402,F401
from kmix.visualization.figures import new_figure  # noqa: E402

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile_975(dof):
    """The 97.5% quantile of Student's t with `dof` degrees of freedom."""
    if dof < 1:
        return float("nan")
    if dof <= len(_T975):
        return _T975[dof - 1]
    return 1.960 + 2.4 / dof  # within 0.002 of the exact value beyond 30


def summarise(values):
    """Mean and sample standard deviation (NaN for one value)."""
    values = np.asarray(values, np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
    return float(values.mean()), std


def paired_difference(values, baseline):
    """Mean of `values - baseline` (paired by seed) and its 95% t-interval."""
    diff = np.asarray(values, np.float64) - np.asarray(baseline, np.float64)
    mean, std = summarise(diff)
    half = t_quantile_975(len(diff) - 1) * std / math.sqrt(len(diff))
    return mean, mean - half, mean + half


# How each metric is printed: (label, scale, unit, higher is better).
_SHOW = {
    "accuracy": ("top-1 accuracy", 100.0, " points", True),
    "nll": ("NLL", 1.0, "", False),
    "ece": ("ECE", 100.0, " points", False),
}


def _difference_text(metric, difference):
    """`(mean, interval)` of a paired difference as signed text (interval "" when NaN)."""
    scale, digits = _SHOW[metric][1], 3 if metric == "nll" else 1
    mean, lo, hi = difference
    interval = "" if math.isnan(lo) else f" [{lo * scale:+.{digits}f}, {hi * scale:+.{digits}f}]"
    return f"{mean * scale:+.{digits}f}", interval


def read_differences(rows, seeds):
    """Sentences, generated from the numbers, on which differences exceed seed noise."""
    if seeds < 2:
        return ["With one seed there is no spread to compare differences with."]
    sentences = []
    for name, row in rows.items():
        if name == "none":
            continue
        beyond, within = [], []
        for metric, (label, _, unit, higher) in _SHOW.items():
            mean, lo, hi = row["diff"][metric]
            mean_text, interval = _difference_text(metric, row["diff"][metric])
            text = f"{label} {mean_text}{unit}{interval}"
            if lo > 0 or hi < 0:
                better = (mean > 0) == higher
                beyond.append(f"{text} ({'better' if better else 'worse'})")
            else:
                within.append(text)
        parts = []
        if beyond:
            parts.append("Beyond the seed spread: " + "; ".join(beyond) + ".")
        if within:
            parts.append("Within the seed spread (the interval holds zero): " + "; ".join(within) + ".")
        sentences.append(f"{name} vs none. " + " ".join(parts))
    if "MixUp" in rows and "RankMixup (MRL)" in rows:
        mix, rank = rows["MixUp"]["ece"], rows["RankMixup (MRL)"]["ece"]
        relation = "below" if rank[0] < mix[0] else "not below"
        sentences.append(
            f"RankMixup's ECE ({100 * rank[0]:.2f} ± {100 * rank[1]:.2f}%) is {relation} "
            f"MixUp's ({100 * mix[0]:.2f} ± {100 * mix[1]:.2f}%)."
        )
    return sentences


def _cell(pair, scale, digits):
    mean, std = pair
    spread = "n/a" if math.isnan(std) else f"{scale * std:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {spread}"


def results_markdown(rows, header, seeds, quick):
    """The job's tables and sentences, as Markdown lines."""
    lines = [SMOKE_TEST_NOTE, ""] if quick else []
    lines += [header, "", "| method | top-1 accuracy (%) | NLL | ECE (%) |", "|---|---:|---:|---:|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {_cell(row['accuracy'], 100, 1)} | {_cell(row['nll'], 1, 3)} | "
                     f"{_cell(row['ece'], 100, 2)} |")
    lines += ["", "Paired difference to `none` (same seeds, same splits), mean over seeds "
              "[95% t-interval]:", "",
              "| method | Δ top-1 accuracy (points) | Δ NLL | Δ ECE (points) |", "|---|---:|---:|---:|"]
    for name, row in rows.items():
        if name == "none":
            continue
        cells = ["".join(_difference_text(metric, row["diff"][metric])) for metric in _SHOW]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Temperature scaling (one temperature per run, fitted on the validation split; "
              "accuracy is unchanged):", "",
              "| method | temperature | ECE before (%) | ECE after (%) | NLL after |",
              "|---|---:|---:|---:|---:|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {_cell(row['temperature'], 1, 2)} | {_cell(row['ece'], 100, 2)} | "
                     f"{_cell(row['ece_scaled'], 100, 2)} | {_cell(row['nll_scaled'], 1, 3)} |")
    if "none" in rows:
        lines += ["", "Final training accuracy (clean training images, inference mode): " + ", ".join(
            f"{name} {_cell(row['train_accuracy'], 100, 1)}%" for name, row in rows.items()) + "."]
    lines += ["", "How to read the differences (generated from the numbers above):", ""]
    lines += [f"- {sentence}" for sentence in read_differences(rows, seeds)]
    return lines


def _figure(figsize):
    """An off-screen matplotlib figure (kmix.visualization's, with its clear ImportError)."""
    return new_figure(figsize, 100)


def plot_learning_curves(curves, path, title):
    """Test accuracy and NLL per epoch, mean over seeds, one line per method."""
    figure = _figure((11, 4))
    axes = figure.subplots(1, 2)
    for name, runs in curves.items():
        epochs = np.arange(1, len(runs[0]) + 1)
        for ax, metric, scale in ((axes[0], "accuracy", 100.0), (axes[1], "nll", 1.0)):
            values = np.array([[point[metric] for point in run] for run in runs]) * scale
            ax.plot(epochs, values.mean(0), label=name, marker="." if len(epochs) < 3 else None)
    axes[0].set(xlabel="epoch", ylabel="test top-1 accuracy (%)", title="accuracy (mean over seeds)")
    axes[1].set(xlabel="epoch", ylabel="test NLL", title="NLL (mean over seeds)")
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=8)
    figure.suptitle(title)
    figure.savefig(path)
    return figure


def plot_differences(rows, path, title):
    """Bars of the paired differences to no mixing, with their 95% intervals."""
    names = [name for name in rows if name != "none"]
    figure = _figure((12, 3.6))
    axes = figure.subplots(1, 3)
    for ax, (metric, (label, scale, unit, higher)) in zip(axes, _SHOW.items()):
        means = np.array([rows[n]["diff"][metric][0] for n in names]) * scale
        lows = np.array([rows[n]["diff"][metric][1] for n in names]) * scale
        highs = np.array([rows[n]["diff"][metric][2] for n in names]) * scale
        errors = None if np.isnan(lows).any() else np.stack([means - lows, highs - means])
        colors = ["tab:green" if (m > 0) == higher else "tab:red" for m in means]
        ax.barh(np.arange(len(names)), means, xerr=errors, color=colors, capsize=3)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(np.arange(len(names)), names if ax is axes[0] else [""] * len(names))
        ax.invert_yaxis()
        ax.set_title(f"Δ {label}{unit} vs none ({'higher' if higher else 'lower'} is better)",
                     fontsize=9)
    figure.suptitle(title)
    figure.savefig(path)
    return figure


def write_gallery(images, labels, path, seed=0, num_images=8):
    """One mixed batch per input-space mixer: masks titled with lambda, mixed images.

    SMMix (it needs the model's attention), ManifoldMixup and AlignMix (hidden
    states), SnapMix and gradient GuidedMixup (they need the model being
    trained) have no input-only mask to show.
    """
    L = kmix.layers
    K = NUM_CLASSES
    mixers = {
        "MixUp": L.MixUp(alpha=0.8, num_classes=K, seed=seed),
        "CutMix": L.CutMix(alpha=1.0, num_classes=K, seed=seed),
        "FMix": L.FMix(alpha=1.0, num_classes=K, seed=seed),
        "ResizeMix": L.ResizeMix(num_classes=K, seed=seed),
        "MaskMix": L.MaskMix(mask_patch_size=8, patch_size=PATCH_SIZE, num_classes=K, seed=seed),
        "CutMix (patch grid)": L.CutMix(alpha=1.0, patch_size=PATCH_SIZE, num_classes=K, seed=seed),
        "GridMix": L.GridMix(num_classes=K, seed=seed),
        "SmoothMix": L.SmoothMix(num_classes=K, seed=seed),
        "SaliencyMix": L.SaliencyMix(num_classes=K, seed=seed),
        "GuidedMixup": L.GuidedMixup(num_classes=K, seed=seed),
        # A stand-in teacher: the partner's brightest 4x4-pixel cells.
        "AttentiveMix": L.AttentiveMix(
            teacher=keras.Sequential([keras.layers.AveragePooling2D(4)]), top_k=6,
            num_classes=K, seed=seed),
        "TokenMix": L.TokenMix(patch_size=PATCH_SIZE, minimum_tokens=2, num_classes=K, seed=seed),
        "MIX-KD PMU": L.MixKDMix(num_classes=K, seed=seed),
    }
    kmix.visualization.plot_mask_comparison(
        images, mixers, path=path, num_images=num_images,
        title="kmix mixers on digits: own-pixel masks (titled with lambda) and mixed images",
    )
    # And one full gallery (partners and label weights) for CutMix.
    gallery_path = pathlib.Path(path).with_name("gallery_cutmix.png")
    kmix.visualization.plot_mix_gallery(
        images, labels=labels, mixer=L.CutMix(alpha=1.0, num_classes=K, seed=seed),
        path=gallery_path, num_images=num_images,
        title="CutMix: images, partners, masks, mixed labels",
    )
    return gallery_path


def main(argv=None):
    parser = argparse.ArgumentParser(description="kmix main job")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test of three steps per method; its numbers are not results")
    parser.add_argument("--epochs", type=int, default=None, help=f"default {EPOCHS} (quick: 1)")
    parser.add_argument("--seeds", type=int, default=None, help=f"default {SEEDS} (quick: 2)")
    parser.add_argument("--out", default="kmix_outputs")
    parser.add_argument("--methods", default=None, help="comma-separated subset of the names")
    parser.add_argument("--all", action="store_true", help="every method (default: "
                        + ", ".join(DEFAULT_METHODS) + ")")
    args = parser.parse_args(argv)
    epochs = args.epochs or (1 if args.quick else EPOCHS)
    seeds = args.seeds or (2 if args.quick else SEEDS)
    for value, name in ((epochs, "--epochs"), (seeds, "--seeds")):
        if value < 1:
            raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value}")

    everything = methods()
    if args.methods:
        wanted = args.methods.split(",")
        unknown = sorted(set(wanted) - set(everything))
        if unknown:
            raise ValueError(
                f"`--methods` must name methods among {sorted(everything)}. Received unknown: {unknown}"
            )
        chosen = [name for name in everything if name in wanted]
    else:
        chosen = list(everything) if args.all else list(DEFAULT_METHODS)
    if "none" not in chosen:
        chosen.insert(0, "none")  # every difference is paired with no mixing

    data = load_data()
    steps_per_epoch = 3 if args.quick else len(data["train"][1]) // BATCH_SIZE
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        print(SMOKE_TEST_NOTE.replace("**", ""), flush=True)

    start = time.time()
    results, curves, first_seed = {}, {}, {}
    for name in chosen:
        compile_start = time.time()
        runner = MethodRunner(name, everything[name], data, epochs, steps_per_epoch,
                              jit_compile=not args.quick)
        results[name], curves[name] = [], []
        for seed in range(seeds):
            run_start = time.time()
            result, curve = runner.run(seed, verbose=2 if args.quick else 0)
            results[name].append(result)
            curves[name].append(curve)
            first_seed.setdefault(name, result["probabilities"])
            print(f"{name:>24} seed {seed}: test accuracy {100 * result['accuracy']:.1f}%, "
                  f"NLL {result['nll']:.3f}, ECE {100 * result['ece']:.2f}% "
                  f"({time.time() - (compile_start if seed == 0 else run_start):.0f} s"
                  f"{', compile included' if seed == 0 else ''})", flush=True)

    rows = {}
    for name, runs in results.items():
        row = {key: summarise([r[key] for r in runs]) for key in
               ("accuracy", "nll", "ece", "temperature", "ece_scaled", "nll_scaled", "train_accuracy")}
        row["diff"] = {m: paired_difference([r[m] for r in runs], [r[m] for r in results["none"]])
                       for m in METRICS}
        rows[name] = row
    wall = time.time() - start
    header = (
        f"scikit-learn digits at {IMAGE_SIZE}x{IMAGE_SIZE}: {len(data['train'][1])} train / "
        f"{len(data['validation'][1])} validation / {len(data['test'][1])} test images; ViT "
        f"(patch {PATCH_SIZE}, dim {VIT['dim']}, depth {VIT['depth']}), AdamW, batch {BATCH_SIZE}, "
        f"{epochs} epoch(s) of {steps_per_epoch} steps, seeds 0..{seeds - 1}; mean ± std over seeds; "
        f"ECE with {ECE_BINS} bins; {wall / 60:.1f} minutes of training and evaluation"
    )
    text = "\n".join(results_markdown(rows, header, seeds, args.quick))
    print("\n" + text)
    (out / "results.md").write_text(text + "\n")

    title_suffix = " (smoke test, not results)" if args.quick else ""
    written = [out / "results.md"]
    plot_learning_curves(curves, out / "learning_curves.png",
                         f"Held-out digits, per epoch{title_suffix}")
    plot_differences(rows, out / "differences.png",
                     f"Paired differences to no mixing, 95% intervals over {seeds} seeds{title_suffix}")
    kmix.visualization.plot_reliability_diagrams(
        data["test"][1], first_seed, num_bins=ECE_BINS, path=out / "reliability.png",
        columns=min(len(first_seed), 5),
        title=f"Reliability on the held-out digits (first seed of each method){title_suffix}",
    )
    shown = 4 if args.quick else 8  # fewer panels draw faster in the smoke test
    gallery = write_gallery(data["train"][0][:shown], data["train"][1][:shown], out / "gallery.png",
                            num_images=shown)
    written += [out / "learning_curves.png", out / "differences.png", out / "reliability.png",
                out / "gallery.png", gallery]
    print()
    for path in written:
        print(f"Wrote {path}")
    if args.quick:
        print(SMOKE_TEST_NOTE.replace("**", ""))
    return 0
