"""Every input mixer in a tf.data pipeline under KERAS_BACKEND=jax and torch (a subprocess each).

The subprocess (tests/backend_job.py) maps every input mixer of the shared
registry over a batch, trains a model of its backend on a CutMix pipeline, and
collects the errors of the TensorFlow-only parts; here the mixed batches are
compared with the TensorFlow backend's, which they must equal (the same
TensorFlow ops and seeds).
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.backend_cases import input_mixer_cases
from tests.backend_cases import mixed_first_batch

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = [b for b in ("jax", "torch") if importlib.util.find_spec(b) is not None]


def _run(backend, out):
    # One thread each: pytest-xdist runs other tests beside the subprocess.
    env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(ROOT),
               TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "backend_job.py"), str(out)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=480,
    )
    assert proc.returncode == 0, f"KERAS_BACKEND={backend}:\n{proc.stdout[-4000:]}"
    summary = json.loads((out / f"{backend}.json").read_text())
    return summary, dict(np.load(out / f"{backend}.npz"))


@pytest.fixture(scope="module")
def tensorflow_batches():
    return {name: mixed_first_batch(name, factory) for name, factory in input_mixer_cases()}


def test_jax_and_torch_are_installed_by_the_test_extras():
    # The issue asks for both backends in CI: a missing one would skip silently.
    assert BACKENDS == ["jax", "torch"]


def test_the_cases_cover_every_input_mixer_class():
    import kmix

    classes = {type(factory()).__name__ for _, factory in input_mixer_cases()}
    # The mixers that mix inside a model's step.
    in_graph = {"SnapMix", "AlignMix", "ManifoldMixup", "SMMix"}
    exported = {
        name for name in dir(kmix.layers)
        if isinstance(getattr(kmix.layers, name), type)
        and issubclass(getattr(kmix.layers, name), kmix.layers.BaseMixLayer)
        and name not in in_graph | {"BaseMixLayer"}
    }
    assert exported <= classes, sorted(exported - classes)
    assert "Mosaic" in classes


# One test (one subprocess) per backend: pytest-xdist may run the two at once.
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_input_mixers_under_another_backend(tensorflow_batches, backend, tmp_path):
    summary, arrays = _run(backend, tmp_path)
    assert summary["backend"] == backend

    # Every input mixer mixes in tf.data exactly as under the TensorFlow backend.
    assert sorted(k.split("/")[0] for k in arrays if k.endswith("/labels")) == sorted(tensorflow_batches)
    for name, (images, labels) in tensorflow_batches.items():
        np.testing.assert_allclose(arrays[f"{name}/images"], images, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(arrays[f"{name}/labels"], labels, atol=1e-6, err_msg=name)
    for name, sums in summary["parallel"].items():
        assert len(sums) == 2, name
        np.testing.assert_allclose(np.concatenate(sums), 1.0, atol=1e-5, err_msg=name)

    # A model of the backend (its weights the backend's own arrays) trains on the pipeline.
    assert len(summary["loss"]) == 2 and all(np.isfinite(summary["loss"]))
    assert summary["weights_type"].split(".")[0] == {"jax": "jaxlib", "torch": "torch"}[backend]

    # The TensorFlow-only parts say what works.
    errors = summary["errors"]
    for name in ("MixingModel", "MixupCrossentropy", "ExpectedCalibrationError"):
        assert errors[name].startswith(f"RuntimeError: {name} needs the TensorFlow backend of Keras"), errors[name]
    for name in ("MixingModel", "MixupCrossentropy", "ExpectedCalibrationError", "CutMix in a model"):
        assert "run in a tf.data pipeline (ds.map(kmix.layers.CutMix(num_classes=...)))" in errors[name], errors[name]
        assert f"Received: keras.backend.backend()='{backend}'" in errors[name]
    assert errors["CutMix in a model"].startswith("RuntimeError: CutMix called on")
    assert f"a {backend} model cannot run inside a tf.data pipeline" in errors["AttentiveMix teacher"]
    assert "'features'" in errors["AttentiveMix teacher"]
