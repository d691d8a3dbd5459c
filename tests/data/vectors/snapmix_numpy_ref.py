"""Independent NumPy re-statement of the official SnapMix (Shaoli-Huang/SnapMix
utils/mixmethod.py: get_spm + snapmix), given its draws (boxes, permutation).

Loop-based and float64, NCHW as the official code. Run:
    python snapmix_numpy_ref.py   (checks snapmix.json, tol 1e-5)
"""
import json
import os
import sys

import numpy as np


def arr(entry):
    return np.asarray(entry["data"], np.float64).reshape(entry["shape"])


def features(images, kernel, bias, stride=4):
    """The tiny model's conv (kernel = stride, no padding), NCHW."""
    b, _, h, w = images.shape
    out_c, _, k, _ = kernel.shape
    fh, fw = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((b, out_c, fh, fw))
    for i in range(fh):
        for j in range(fw):
            patch = images[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, :, i, j] = np.einsum("bchw,ochw->bo", patch, kernel) + bias
    return out


def bilinear_half_pixel(maps, out_h, out_w):
    """F.interpolate(bilinear, align_corners=False) of (B, h, w) maps."""
    _, h, w = maps.shape

    def axis(out, size):
        src = np.maximum((np.arange(out) + 0.5) * size / out - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(int), size - 1)
        hi = np.minimum(lo + 1, size - 1)
        return lo, hi, src - lo

    ylo, yhi, wy = axis(out_h, h)
    xlo, xhi, wx = axis(out_w, w)
    top = maps[:, ylo][:, :, xlo] * (1 - wx) + maps[:, ylo][:, :, xhi] * wx
    bottom = maps[:, yhi][:, :, xlo] * (1 - wx) + maps[:, yhi][:, :, xhi] * wx
    return top * (1 - wy)[None, :, None] + bottom * wy[None, :, None]


def cams(case, images):
    fms = np.maximum(features(images, arr(case["conv_kernel"]), arr(case["conv_bias"])), 0)
    weight, bias = arr(case["dense_kernel"]), arr(case["dense_bias"])
    maps = np.stack([np.einsum("chw,c->hw", fms[i], weight[c]) + bias[c]
                     for i, c in enumerate(case["labels"])])
    maps = bilinear_half_pixel(maps, case["height"], case["width"])
    maps = maps - maps.min(axis=(1, 2), keepdims=True)
    with np.errstate(invalid="ignore"):
        return maps / maps.sum(axis=(1, 2), keepdims=True)


def resize_align_corners(region, out_h, out_w):
    """F.interpolate(bilinear, align_corners=True) of (B, C, h, w)."""
    _, _, h, w = region.shape
    out = np.zeros(region.shape[:2] + (out_h, out_w))
    for y in range(out_h):
        sy = y * (h - 1) / (out_h - 1) if out_h > 1 else 0.0
        y0 = int(np.floor(sy)); y1 = min(y0 + 1, h - 1); ty = sy - y0
        for x in range(out_w):
            sx = x * (w - 1) / (out_w - 1) if out_w > 1 else 0.0
            x0 = int(np.floor(sx)); x1 = min(x0 + 1, w - 1); tx = sx - x0
            out[:, :, y, x] = ((1 - ty) * ((1 - tx) * region[:, :, y0, x0] + tx * region[:, :, y0, x1])
                               + ty * ((1 - tx) * region[:, :, y1, x0] + tx * region[:, :, y1, x1]))
    return out


def snapmix(case, images, maps):
    """Mixed images and (lam_a, lam_b) given the recorded draws."""
    index = np.asarray(case["rand_index"])
    labels = np.asarray(case["labels"])
    x1, y1, x2, y2 = case["box"]      # x: rows (dim 2), y: columns (dim 3)
    u1, v1, u2, v2 = case["box1"]
    b = len(labels)
    mixed = images.copy()
    lam_a, lam_b = np.ones(b), np.zeros(b)
    if (x2 - x1) * (y2 - y1) > 0 and (u2 - u1) * (v2 - v1) > 0:
        mixed[:, :, x1:x2, y1:y2] = resize_align_corners(
            images[index][:, :, u1:u2, v1:v2], x2 - x1, y2 - y1)
        lam_a = 1 - maps[:, x1:x2, y1:y2].sum(axis=(1, 2)) / (maps.sum(axis=(1, 2)) + 1e-8)
        partner = maps[index]
        lam_b = partner[:, u1:u2, v1:v2].sum(axis=(1, 2)) / (partner.sum(axis=(1, 2)) + 1e-8)
        same = labels == labels[index]
        merged = lam_a + lam_b
        lam_a = np.where(same, merged, lam_a)
        lam_b = np.where(same, merged, lam_b)
        area_lam = 1 - (x2 - x1) * (y2 - y1) / (images.shape[-1] * images.shape[-2])
        lam_a = np.where(np.isnan(lam_a), area_lam, lam_a)
        lam_b = np.where(np.isnan(lam_b), 1 - area_lam, lam_b)
    return mixed, lam_a, lam_b


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    data = json.load(open(os.path.join(here, "snapmix.json")))
    worst = 0.0
    for case in data["cases"]:
        images = arr(case["images"])
        maps = cams(case, images)
        ref_maps = arr(case["cams"])
        assert np.array_equal(np.isnan(maps), np.isnan(ref_maps)), case["name"]
        worst = max(worst, float(np.nanmax(np.abs(maps - ref_maps))))
        mixed, lam_a, lam_b = snapmix(case, images, ref_maps)
        x1, y1, x2, y2 = case["box"]
        box = mixed[:, :, x1:x2, y1:y2] if arr(case["mixed_box"]).size else mixed[:, :, :0, :0]
        worst = max(worst, float(np.abs(box - arr(case["mixed_box"])).max(initial=0.0)),
                    float(np.abs(lam_a - case["lam_a"]).max()),
                    float(np.abs(lam_b - case["lam_b"]).max()))
    ok = worst < 1e-5
    print(f"snapmix: max abs diff {worst:.2e} -> {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
