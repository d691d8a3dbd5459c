"""Independent NumPy re-statement of OpenMixup's attentivemix masks and mix
(openmixup/models/augments/attentivemix.py), given its permutation.

Run:  python attentivemix_numpy_ref.py   (checks attentivemix.json, tol 1e-6)
"""
import json
import os
import sys

import numpy as np


def top_k_cells(features, top_k, size):
    """1 on each row's top_k cells of the channel-mean map, nearest-upsampled."""
    activity = np.asarray(features, np.float64).mean(axis=1)  # (B, s, s)
    b, s, _ = activity.shape
    flat = activity.reshape(b, -1)
    cells = np.zeros_like(flat)
    for row in range(b):
        cells[row, np.argsort(-flat[row])[:top_k]] = 1.0
    cells = cells.reshape(b, s, s)
    idx = np.arange(size) * s // size
    return cells[:, idx][:, :, idx]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = json.load(open(os.path.join(here, "attentivemix.json")))
    worst = 0.0
    for case in d["cases"]:
        images = np.asarray(case["images"], np.float64)
        mask = top_k_cells(case["features"], case["top_k"], images.shape[-1])
        mixed = mask[:, None] * images + (1 - mask[:, None]) * images[case["index"]]
        worst = max(worst, float(np.abs(mask - np.array(case["mask"])).max()),
                    float(np.abs(mixed - np.array(case["mixed"])).max()))
    ok = worst < 1e-6
    print(f"attentivemix: max abs diff {worst:.2e} -> {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
