"""kmix's input mixers in tf.data under another Keras backend (tests/test_backends.py).

    KERAS_BACKEND=jax python tests/backend_job.py OUT_DIR

For every input mixer of the shared registry (tests/layers/registry.py), the
first batch of `ds.map(mixer)` (sequential, seed 3) goes to
`OUT_DIR/<backend>.npz` (the parent compares it with the TensorFlow backend's);
some also run in a 2-way parallel map. A model of the backend then
trains one epoch on a CutMix pipeline with Keras's own loss, and the
TensorFlow-only parts are asked for their errors. `OUT_DIR/<backend>.json`
holds the summary.
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kmix  # noqa: E402
from tests.backend_cases import FEATURES  # noqa: E402
from tests.backend_cases import batch  # noqa: E402
from tests.backend_cases import input_mixer_cases  # noqa: E402
from tests.backend_cases import mixed_first_batch  # noqa: E402

OUT = sys.argv[1]
# The mixers also run in a 2-way parallel map (their seed draws then race).
PARALLEL = ("CutMix", "FMix", "RandomMixChoice-all", "SaliencyMix", "AttentiveMix", "GuidedMixup")
BACKEND = keras.backend.backend()


def errors():
    found = {}
    checks = {
        "MixingModel": lambda: kmix.models.MixingModel(
            keras.Input((8, 8, 3)), keras.Input((8, 8, 3)), mixer=kmix.layers.CutMix(num_classes=3)),
        "MixupCrossentropy": lambda: kmix.losses.MixupCrossentropy(),
        "ExpectedCalibrationError": lambda: kmix.metrics.ExpectedCalibrationError(),
        "CutMix in a model": lambda: kmix.layers.CutMix(num_classes=3)(keras.ops.ones((2, 8, 8, 3))),
        "AttentiveMix teacher": lambda: kmix.layers.AttentiveMix(
            teacher=keras.Sequential([keras.layers.AveragePooling2D(4)])),
    }
    for name, check in checks.items():
        try:
            check()
            found[name] = None
        except Exception as error:  # noqa: BLE001
            found[name] = f"{type(error).__name__}: {error}"
    return found


def main():
    summary = {"backend": BACKEND, "parallel": {}}
    arrays = {}
    for name, factory in input_mixer_cases():
        start = time.time()
        images, labels = mixed_first_batch(name, factory)
        arrays[f"{name}/images"], arrays[f"{name}/labels"] = images, labels
        if name in PARALLEL:
            ds = batch(name).map(factory(), num_parallel_calls=2)
            summary["parallel"][name] = [
                np.asarray(out["labels"] if isinstance(out, dict) else out[1]).sum(axis=1).tolist()
                for out in ds
            ]
        print(name, round(time.time() - start, 1), flush=True)
    np.savez(os.path.join(OUT, f"{BACKEND}.npz"), **arrays)

    # A model of this backend trains on a CutMix pipeline with Keras's own loss.
    rng = np.random.default_rng(0)
    ds = tf.data.Dataset.from_tensor_slices(
        (rng.random((32, 8, 8, 3)).astype("float32"), np.arange(32) % 3)
    ).batch(8).map(kmix.layers.CutMix(num_classes=3, seed=1), num_parallel_calls=2)
    model = keras.Sequential([
        keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    start = time.time()
    history = model.fit(ds, epochs=2, verbose=0)
    print("fit", round(time.time() - start, 1), flush=True)
    summary["loss"] = history.history["loss"]
    summary["weights_type"] = type(model.trainable_weights[0].value).__module__
    summary["errors"] = errors()
    summary["features"] = FEATURES
    with open(os.path.join(OUT, f"{BACKEND}.json"), "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    main()
