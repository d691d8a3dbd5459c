"""The input mixers and batches shared by tests/test_backends.py and tests/backend_job.py."""

import numpy as np
import tensorflow as tf

import kmix
from tests.layers.registry import CASES
from tests.layers.registry import K

B, H, W, C = 8, 16, 16, 3
# AttentiveMix takes the teacher's maps in the input dict (a model of another
# backend cannot run inside tf.data).
FEATURES = [B * 2, 4, 4, 8]


# One case per input mixer class (the registry also varies their arguments).
CLASS_CASES = (
    "MixUp", "CutMix", "RandomMixChoice-all", "FMix", "ResizeMix", "MaskMix", "TokenMix", "GridMix",
    "SmoothMix-sample", "AttentiveMix", "MixKDMix", "SaliencyMix", "GuidedMixup", "README-VerticalSplitMix",
)


def input_mixer_cases():
    """`(name, factory)` for one case of every input mixer class; each factory gives a mixer seeded 3."""
    cases = []
    for name, factory in CASES:
        if name not in CLASS_CASES:
            continue
        if name == "AttentiveMix":
            factory = lambda **kw: kmix.layers.AttentiveMix(top_k=3, **kw)  # noqa: E731
        cases.append((name, lambda factory=factory: factory(num_classes=K, seed=3)))
    # Mosaic (four images per row, no MixPlan) is not in the mixer registry.
    cases.append(("Mosaic", lambda: kmix.layers.Mosaic(num_classes=K, seed=3)))
    return cases


def batch(name, size=B):
    """Two batches of `size` images (16x16x3) and class ids; a dict with features for AttentiveMix."""
    rng = np.random.default_rng(0)
    images = rng.random((2 * size, H, W, C)).astype(np.float32)
    labels = (np.arange(2 * size) % K).astype(np.int64)
    if name == "AttentiveMix":
        features = rng.random(FEATURES).astype(np.float32)
        data = {"images": images, "labels": labels, "features": features}
        return tf.data.Dataset.from_tensor_slices(data).batch(size)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(size)


def mixed_first_batch(name, factory):
    """The first batch of `ds.map(mixer)` (sequential): NumPy images and labels."""
    out = next(iter(batch(name).map(factory())))
    if isinstance(out, dict):
        return np.asarray(out["images"]), np.asarray(out["labels"])
    return np.asarray(out[0]), np.asarray(out[1])
