"""MultiWorkerMirroredStrategy: two worker processes on localhost train in sync, each mixing its own batches.

The workers run tests/models/multi_worker_job.py (see its docstring).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

JOB = Path(__file__).with_name("multi_worker_job.py")
ROOT = Path(__file__).resolve().parents[2]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run(modes, out, timeout=300):
    ports = ",".join(str(p) for p in _free_ports(2))
    # One thread each: pytest-xdist runs other tests beside the workers.
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="",
               TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("TF_CONFIG", None)
    procs = [
        subprocess.Popen([sys.executable, str(JOB), mode, ports, str(out)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for mode in modes
    ]
    results = {}
    try:
        for mode, proc in zip(modes, procs):
            log, _ = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, f"worker {mode} failed:\n{log[-4000:]}"
            results[mode] = json.loads((out / f"worker-{mode}.json").read_text())
    finally:
        for proc in procs:
            proc.kill()
    return results


# One test for the two workers' run (a module fixture would run once per pytest-xdist worker).
@pytest.mark.slow
def test_two_workers_train_in_sync_mix_their_own_batches_and_resume(tmp_path):
    workers = _run(["0", "1"], tmp_path)
    a, b = workers["0"], workers["1"]
    assert a["replicas"] == b["replicas"] == 2
    # One model: the same weights on both workers (CutMix, resumed CutMix, ViT + TransMix).
    for key in ("cutmix_weights", "resumed_weights", "vit_weights"):
        assert a[key] == b[key], key
    assert a["vit_loss"] == b["vit_loss"]
    # Each worker's own plans: 4 steps, none the same on both workers.
    assert len(a["reference_plans"]) == len(b["reference_plans"]) == 4
    for plan_a, plan_b in zip(a["reference_plans"], b["reference_plans"]):
        assert plan_a != plan_b
    # Stopped after epoch 1 of 2 and resumed by BackupAndRestore: the second
    # epoch draws the plans the uninterrupted run drew there, not epoch 1's again.
    for worker in workers.values():
        reference, resumed = worker["reference_plans"], worker["resumed_plans"]
        assert resumed == reference[2:]
        assert all(plan not in reference[:2] for plan in resumed)


@pytest.mark.slow
def test_parameter_server_strategy_is_refused_at_compile(tmp_path):
    error = _run(["ps"], tmp_path)["ps"]["error"]
    assert error is not None
    assert "needs a strategy whose replicas run the step on their own batches" in error
    assert "MultiWorkerMirroredStrategy" in error and "Received: strategy=ParameterServerStrategyV2" in error
    assert "ds.map(mixer)" in error
