"""The main job's fixed protocol: data split, model, methods, schedule constants, scores."""

import keras
import numpy as np

import kmix

SMOKE_TEST_NOTE = (
    "**Smoke test (`--quick`): three training steps per method. These numbers only show that "
    "the machinery runs; they are not results.**"
)

NUM_CLASSES = 10
IMAGE_SIZE = 16
PATCH_SIZE = 4
BATCH_SIZE = 64
EPOCHS = 50
WARMUP_EPOCHS = 5
SEEDS = 3
VALIDATION_SIZE = 148
EVAL_BATCH = 512
ECE_BINS = 15
VIT = dict(dim=48, depth=3, num_heads=3, mlp_ratio=2, drop_path_rate=0.05)
DEFAULT_METHODS = ("none", "MixUp", "CutMix", "TransMix", "RankMixup (MRL)")
METRICS = ("accuracy", "nll", "ece")


def methods():
    """`{name: (mixer factory or None, label layer factory or None, loss factory)}`.

    Factories take the seed. The hyper-parameters are the papers' defaults scaled to
    a 16x16 image with 4x4 patches.
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
            lambda s: L.MaskMix(mask_patch_size=8, patch_size=PATCH_SIZE, num_classes=K, seed=s),
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


def make_vit(method, seed):
    """The method's ViT with the initial weights and seed generators of `seed`."""
    make_mixer, make_label_layer, _ = method
    keras.utils.set_random_seed(seed)
    return kmix.models.ViT(
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        num_classes=NUM_CLASSES,
        num_channels=1,
        mixer=make_mixer(seed) if make_mixer else None,
        label_layer=make_label_layer() if make_label_layer else None,
        seed=seed,
        **VIT,
    )


def scores(labels, logits, ece=True):
    """`{"accuracy", "nll", "ece"}` of logits `(N, K)` (fractions; NLL in nats)."""
    logits = np.asarray(logits, np.float64)
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    result = {
        "accuracy": float(np.mean(np.argmax(logits, 1) == labels)),
        "nll": float(-np.mean(log_probs[np.arange(len(labels)), labels])),
    }
    if ece:
        result["ece"] = float(kmix.metrics.expected_calibration_error(
            labels, np.exp(log_probs).astype("float32"), num_bins=ECE_BINS))
    return result


def load_data():
    """`{"train", "validation", "test"}`: the digits split, validation from the train end."""
    (train_x, train_y), test = kmix.datasets.load_digits(image_size=IMAGE_SIZE, seed=0)
    cut = len(train_y) - VALIDATION_SIZE
    return {
        "train": (train_x[:cut], train_y[:cut]),
        "validation": (train_x[cut:], train_y[cut:]),
        "test": test,
    }
