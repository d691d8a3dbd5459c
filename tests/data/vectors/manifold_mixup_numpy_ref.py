"""Independent NumPy re-statement of Manifold Mixup's mixing step (official
vikasverma1077/manifold_mixup, `mixup_process`): given the drawn `lam` and
permutation `indices`, `h' = lam * h + (1 - lam) * h[indices]` and the one-hot
targets mixed alike; and the official point draw `random.randint(0, 2)` is
uniform over the input and the two hidden points.

Run:  python manifold_mixup_numpy_ref.py   (checks manifold_mixup.json, tol 1e-6)
"""
import json
import os
import sys

import numpy as np


def mix(values, lam, indices):
    values = np.asarray(values, dtype=np.float64)
    return lam * values + (1.0 - lam) * values[np.asarray(indices)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = json.load(open(os.path.join(here, "manifold_mixup.json")))
    worst = 0.0
    for case in d["cases"]:
        lam = np.float32(case["lam"]).astype(np.float64)
        hidden = mix(case["hidden"], lam, case["indices"])
        target = mix(np.eye(4)[case["labels"]], lam, case["indices"])
        worst = max(worst, float(np.abs(hidden - np.array(case["mixed_hidden"])).max()),
                    float(np.abs(target - np.array(case["mixed_target"])).max()))
    counts = np.array(d["layer_mix_counts"], dtype=np.float64)
    chi2 = float(((counts - counts.sum() / 3) ** 2 / (counts.sum() / 3)).sum())
    ok = worst < 1e-6 and chi2 < 13.82
    print(f"manifold_mixup: max abs diff {worst:.2e}, point chi2 {chi2:.2f} -> {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
