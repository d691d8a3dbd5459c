"""Produces tests/data/vectors/alignmix.json from the official AlignMixup code.

Not run by the tests (it needs PyTorch and the upstream checkout). Usage:

    git clone https://github.com/shashankvkt/AlignMixup_CVPR22 /tmp/alignmix_official
    # (the vectors were made at commit ec01a689b56ad4f65948ea17c16a31f651a3f1c3)
    /tmp/tv/bin/python tests/data/vectors/generators/alignmix.py /tmp/alignmix_official

It imports the official `cifar10_100/utils/OT.py::SinkhornDistance` and
`cifar10_100/models/resnet18_classifier.py::{mixup_aligned, Resnet_classifier}`
unchanged and runs them on the CPU (`Tensor.cuda` made a no-op). The upstream
draws are recorded by wrapping `np.random.permutation` and `random.randint`;
the Sinkhorn plan and its iteration count by wrapping `SinkhornDistance.forward`
and `SinkhornDistance.M` (called twice per iteration and once at the end).
"""

import json
import pathlib
import random
import subprocess
import sys

import numpy as np
import torch

COMMIT = "ec01a689b56ad4f65948ea17c16a31f651a3f1c3"
OUT = pathlib.Path(__file__).resolve().parent.parent / "alignmix.json"

# (name, B, C, H, W, feature scale, seed): sizes where the official Sinkhorn
# stops early (2, 3, 24 iterations) and where it runs all 100.
CASES = [
    ("hw4_stops_early", 4, 8, 2, 2, 1.0, 0),
    ("hw16_soft_plan", 3, 16, 4, 4, 0.1, 0),
    ("hw12_not_square", 5, 4, 4, 3, 0.7, 0),
    ("hw9_all_iterations", 2, 16, 3, 3, 3.0, 0),
    ("hw16_all_iterations", 3, 16, 4, 4, 2.0, 1),
]


def short(values, digits=8):
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, np.float64).ravel()]


def entry(values, digits=8):
    values = np.asarray(values)
    return {"shape": list(values.shape), "data": short(values, digits)}


def main(checkout):
    checkout = pathlib.Path(checkout)
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or COMMIT
    torch.Tensor.cuda = lambda self, *a, **k: self
    sys.path.insert(0, str(checkout / "cifar10_100"))
    import models.resnet18_classifier as official
    from utils.OT import SinkhornDistance

    log = {"perm": [], "randint": [], "forced": [], "plans": [], "m_calls": 0, "maps": []}
    permutation = np.random.permutation
    randint = random.randint
    forward = SinkhornDistance.forward
    modified_cost = SinkhornDistance.M
    mixup_aligned = official.mixup_aligned

    def rec_permutation(n):
        out = permutation(n)
        log["perm"].append(np.asarray(out).tolist())
        return out

    def rec_randint(a, b):
        out = log["forced"].pop(0) if log["forced"] else randint(a, b)
        log["randint"].append(out)
        return out

    def rec_forward(self, x, y):
        pi = forward(self, x, y)
        log["plans"].append(pi.detach().numpy().copy())
        return pi

    def rec_m(self, C, u, v):
        log["m_calls"] += 1
        return modified_cost(self, C, u, v)

    def rec_mixup_aligned(out, y, lam):
        log["maps"].append(tuple(out.shape))
        return mixup_aligned(out, y, lam)

    np.random.permutation = rec_permutation
    random.randint = rec_randint
    SinkhornDistance.forward = rec_forward
    SinkhornDistance.M = rec_m
    official.mixup_aligned = rec_mixup_aligned

    cases = []
    for name, b, c, h, w, scale, seed in CASES:
        rs = np.random.RandomState(seed)
        features = np.round(rs.randn(b, c, h, w) * scale, 4).astype(np.float32)
        case = {"name": name, "features": entry(features, 6)}
        for direction in (0, 1):
            np.random.seed(100 + seed)
            lam = float(np.random.beta(2.0, 2.0))  # as the official main.py
            log.update(perm=[], randint=[], plans=[], m_calls=0, forced=[direction])
            y = torch.arange(b)
            final, y_a, y_b = mixup_aligned(torch.tensor(features), y, lam)
            assert log["randint"] == [direction]
            iterations = (log["m_calls"] - 1) // 2
            case.update(lam=lam, permutation=log["perm"][0], iterations=iterations)
            case["plan"] = entry(log["plans"][0])  # before the official `* H * W`
            case[f"mixed_direction{direction}"] = entry(final.numpy())
            assert y_b.tolist() == [int(i) for i in log["perm"][0]]
        print(name, "iterations", case["iterations"], "perm", case["permutation"])
        cases.append(case)

    # The official forward's law: input mixup or the aligned mix (random.randint(0, 1)),
    # then the aligned mix's direction (random.randint(0, 1)); counted over calls.
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    model = official.Resnet_classifier(num_classes=10)
    images = torch.randn(2, 3, 32, 32)
    counts = {"input_mixup": 0, "direction0": 0, "direction1": 0}
    draws = 300
    with torch.no_grad():
        for _ in range(draws):
            log.update(randint=[], maps=[], forced=[])
            model(images, torch.arange(2), 0.5, mode="train")
            if log["randint"][0] == 0:
                counts["input_mixup"] += 1
            else:
                counts[f"direction{log['randint'][1]}"] += 1
                mixed_map = log["maps"][0]
    print("forward law", counts, "mixed map", mixed_map)

    data = {
        "source": {"repo": "shashankvkt/AlignMixup_CVPR22", "commit": commit,
                   "functions": "cifar10_100/models/resnet18_classifier.py::mixup_aligned, "
                                "Resnet_classifier.forward; cifar10_100/utils/OT.py::SinkhornDistance"},
        "torch_version": torch.__version__,
        "description": (
            "The official mixup_aligned run on CPU (cuda() a no-op) on seeded feature maps "
            "(NCHW, 4-decimal values, float32), with lam = np.random.beta(2, 2) as main.py. "
            "For each case both align_mix draws are recorded (random.randint forced to 0, then "
            "1) with the same permutation and lam. plan is SinkhornDistance's output pi "
            "(B, HW, HW) before mixup_aligned scales it by H*W; iterations is the number of "
            "Sinkhorn iterations it ran (it stops when the batch-mean |u - u_prev| sum < 0.1). "
            "mixed_direction0 = lam * F1 + (1 - lam) * F2 P^T, mixed_direction1 = lam * F1 P + "
            "(1 - lam) * F2 (F1 the features, F2 = F1[permutation], P = plan * HW). "
            "forward_law counts the official Resnet_classifier.forward's draws over "
            f"{draws} calls: input mixup, or the aligned mix of the map mixed_map_shape "
            "(layer4's output) in direction 0 or 1."
        ),
        "eps": 0.1,
        "max_iter": 100,
        "threshold": 0.1,
        "cases": cases,
        "forward_law": counts,
        "mixed_map_shape": list(mixed_map),
    }
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print("wrote", OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/alignmix_official")
