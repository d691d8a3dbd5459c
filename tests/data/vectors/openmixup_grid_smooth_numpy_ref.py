"""Independent NumPy re-statement of OpenMixup's GridMix and SmoothMix masks
(openmixup/models/augments/gridmix.py, smoothmix.py), given their recorded draws.

Run:  python openmixup_grid_smooth_numpy_ref.py   (checks openmixup_grid_smooth.json)
"""
import json
import math
import os
import sys

import numpy as np


def grid_partner_mask(size, lam, n_holes, hole_aspect, cut_area, cut_aspect, cx, cy):
    area = int(size * size * cut_area)
    cut_w = int(np.sqrt(area / cut_aspect))
    cut_h = int(cut_w * cut_aspect)
    x0, y0 = int((size - cut_w) * cx), int((size - cut_h) * cy)
    pw = math.ceil(cut_w / n_holes)
    ph = int(pw * hole_aspect)
    ratio = np.sqrt(1 - lam)
    hw = min(max(int(pw * ratio), 1), pw - 1)
    hh = min(max(int(ph * ratio), 1), ph - 1)
    rows, cols = np.mgrid[0:size, 0:size]
    r, c = rows - y0, cols - x0
    inside = (r >= 0) & (r < cut_h) & (c >= 0) & (c < cut_w)
    return (inside & (np.mod(c, pw) < hw) & (np.mod(r, ph) < hh)).astype(np.float64)


def smooth_partner_mask(size, rand_h, rand_w, sigma):
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = (size - 1) / 2.0
    return np.exp(-((rows - centre - rand_h) ** 2 + (cols - centre - rand_w) ** 2) / (2 * sigma ** 2))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = json.load(open(os.path.join(here, "openmixup_grid_smooth.json")))
    worst = 0.0
    for case in d["gridmix"]:
        size = case["size"]
        cut_w = int(np.sqrt(int(size * size * case["cut_area_ratio"]) / case["cut_aspect_ratio"]))
        if int(cut_w * case["cut_aspect_ratio"]) > size:  # upstream slices wrap: not compared
            continue
        mask = grid_partner_mask(size, case["lam_drawn"], case["n_holes"], case["hole_aspect_ratio"],
                                 case["cut_area_ratio"], case["cut_aspect_ratio"], case["cx"], case["cy"])
        worst = max(worst, float(np.abs(mask - np.array(case["partner_mask"])).max()))
    for case in d["smoothmix"]:
        size = case["size"]
        sigma = (np.float32(case["sigma_uniform"]) / 4 + 0.25) * size
        mask = smooth_partner_mask(size, case["rand_h"], case["rand_w"], sigma)
        worst = max(worst, float(np.abs(mask - np.array(case["partner_mask"])).max()))
    ok = worst < 1e-5
    print(f"openmixup grid/smooth: max abs diff {worst:.2e} -> {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
