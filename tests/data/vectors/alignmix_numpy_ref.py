"""Independent NumPy re-statement of the official AlignMix (shashankvkt/AlignMixup_CVPR22,
`mixup_aligned` and the log-domain `SinkhornDistance`), given its recorded draws.

Run:  python alignmix_numpy_ref.py   (checks alignmix.json)
"""
import json
import os
import sys

import numpy as np


def _logsumexp(a, axis):
    top = a.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def sinkhorn(x, y, eps=0.1, max_iter=100, threshold=0.1, dtype=np.float64):
    """Entropic OT plan between the rows of x (B, N, D) and y (B, M, D), uniform marginals.

    Returns (plan (B, N, M), iterations, errors). Stops after the iteration whose
    batch-mean sum |u - u_previous| is below `threshold`.
    """
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    cost = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
    n, m = x.shape[1], y.shape[1]
    log_mu, log_nu = np.log(1.0 / n + 1e-8), np.log(1.0 / m + 1e-8)
    u = np.zeros(x.shape[:2], dtype)
    v = np.zeros(y.shape[:2], dtype)

    def modified(u, v):
        return (-cost + u[:, :, None] + v[:, None, :]) / eps

    errors = []
    for _ in range(max_iter):
        previous = u
        u = eps * (log_mu - _logsumexp(modified(u, v), -1)) + u
        v = eps * (log_nu - _logsumexp(modified(u, v), -2)) + v
        errors.append(float(np.abs(u - previous).sum(-1).mean()))
        if errors[-1] < threshold:
            break
    return np.exp(modified(u, v)), len(errors), errors


def align_mix(features, permutation, lam, direction, plan=None, **kwargs):
    """The official mixed maps (B, C, H, W) of NCHW `features` given the draws."""
    b, c, h, w = features.shape
    f1 = np.asarray(features, np.float64).reshape(b, c, h * w)
    f2 = f1[np.asarray(permutation)]
    if plan is None:
        plan = sinkhorn(f1.transpose(0, 2, 1), f2.transpose(0, 2, 1), **kwargs)[0]
    p = plan * (h * w)
    if direction == 0:
        mixed = lam * f1 + (1 - lam) * f2 @ p.transpose(0, 2, 1)
    else:
        mixed = lam * f1 @ p + (1 - lam) * f2
    return mixed.reshape(b, c, h, w)


def _array(e):
    return np.asarray(e["data"], np.float64).reshape(e["shape"])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = json.load(open(os.path.join(here, "alignmix.json")))
    ok = True
    for case in d["cases"]:
        features = _array(case["features"])
        b, c, h, w = features.shape
        f1 = features.reshape(b, c, h * w).transpose(0, 2, 1)
        f2 = f1[np.asarray(case["permutation"])]
        plan, iterations, errors = sinkhorn(f1, f2, np.float32(d["eps"]), d["max_iter"],
                                            np.float32(d["threshold"]), dtype=np.float32)
        plan_diff = float(np.abs(plan - _array(case["plan"])).max() * h * w)
        mixed_diff = max(
            float(np.abs(align_mix(features, case["permutation"], case["lam"], k)
                         - _array(case[f"mixed_direction{k}"])).max()
                  / max(1.0, np.abs(features).max()))
            for k in (0, 1))
        good = iterations == case["iterations"] and plan_diff < 1e-3 and mixed_diff < 1e-3
        ok &= good
        print(f"{case['name']}: iterations {iterations} (official {case['iterations']}), "
              f"last error {errors[-1]:.3g}, plan*HW max diff {plan_diff:.1e}, "
              f"mixed max diff {mixed_diff:.1e} -> {'PASS' if good else 'FAIL'}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
