"""Independent NumPy re-statement of SaliencyMix's official box and mixing and of
OpenCV's StaticSaliencyFineGrained (opencv_contrib
modules/saliency/src/staticSaliencyFineGrained.cpp) as OpenCV 5.1.0 runs it.

Run:  python saliencymix_numpy_ref.py   (checks saliencymix.json; exits 0)

Written from the C++ source with loops over the scales and whole-image numpy
arithmetic; the float32 roundings are spelled out where OpenCV's compiled code
rounds: the float gray conversion is `fma(r, .299f, fma(b, .114f, g * .587f))`
(OpenCV's SIMD path on an FMA CPU), each blur pass `b/2 + (a + c)/4`, the
integral image a sequential float32 sum, and `gray.at<uchar>(y, x)` on a
float32 image reads byte x of row y of its memory.
"""
import json
import os
import sys

import numpy as np

f32 = np.float32
NEIGHBORHOODS = (12, 24, 48, 28, 56, 112)


def normalise(images_u8, mean, std):
    """torchvision ToTensor + Normalize in float32: (B, H, W, 3) -> (B, 3, H, W)."""
    x = np.transpose(images_u8, (0, 3, 1, 2)).astype(np.float32) / f32(255)
    return (x - np.asarray(mean, f32)[:, None, None]) / np.asarray(std, f32)[:, None, None]


def _fma(a, coef, c):
    return (a.astype(np.float64) * np.float64(f32(coef)) + c.astype(np.float64)).astype(f32)


def _gray(img):
    if img.dtype == np.uint8:
        b, g, r = (img[..., k].astype(np.int64) for k in range(3))
        return ((b * 3735 + g * 19235 + r * 9798 + 16384) >> 15).astype(np.uint8)
    b, g, r = img[..., 0], img[..., 1], img[..., 2]
    return _fma(r, 0.299, _fma(b, 0.114, g * f32(0.587)))


def _blur(gray):
    if gray.dtype == np.uint8:
        p = np.pad(gray.astype(np.int64), 1, mode="reflect")
        h, w = gray.shape
        k = (1, 2, 1)
        s = sum(k[i] * k[j] * p[i:i + h, j:j + w] for i in range(3) for j in range(3))
        return ((s + 8) >> 4).astype(np.uint8)

    def one_axis(p):
        return p[:, 1:-1] * f32(0.5) + (p[:, :-2] + p[:, 2:]) * f32(0.25)

    p = np.pad(gray, 1, mode="reflect")
    return one_axis(one_axis(p).T).T


def _integral(gray):
    h, w = gray.shape
    out = np.zeros((h + 1, w + 1), f32)
    for y in range(h):
        row = f32(0)
        for x in range(w):
            row = f32(row + f32(gray[y, x]))
            out[y + 1, x + 1] = f32(out[y, x + 1] + row)
    return out


def saliency_bytes(img):
    """computeSaliency(img) * 255 as uint8, for one HWC image (uint8 or float32)."""
    gray = _blur(_blur(_gray(img)))
    h, w = gray.shape
    centre = (gray if gray.dtype == np.uint8 else gray.view(np.uint8)[:, :w]).astype(f32)
    ii = _integral(gray)
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    on_sum = np.zeros((h, w), np.int64)
    off_sum = np.zeros((h, w), np.int64)
    for n in NEIGHBORHOODS:
        x1, x2 = np.clip(xs - n + 1, 0, w), np.clip(xs + n + 1, 0, w)
        y1, y2 = np.clip(ys - n + 1, 0, h), np.clip(ys + n + 1, 0, h)
        value = ((ii[y2, x2] + ii[y1, x1]) - ii[y2, x1]) - ii[y1, x2]
        value = (value - centre) / ((x2 - x1) * (y2 - y1) - 1).astype(f32)
        for diff, total in ((centre - value, on_sum), (value - centre, off_sum)):
            # (uchar) of a positive float: truncate, keep the low byte.
            total += np.where(diff > 0, np.trunc(np.maximum(diff, 0)).astype(np.int64) % 256, 0)

    def to_byte(total):
        top = total.max()
        if top == 0:
            return np.zeros_like(total)
        return np.trunc(255.0 * (total.astype(f32) / f32(top)).astype(np.float64)).astype(np.int64)

    on, off = to_byte(on_sum), to_byte(off_sum)
    top = max(on.max(), off.max())
    if top == 0:
        return np.zeros((h, w), np.uint8)
    return (np.trunc(255.0 * (on + off) / float(top)).astype(np.int64) % 256).astype(np.uint8)


def official_mix(images_nchw, lam, rand_index):
    """saliency_bbox + the train loop's paste, as the official code does them."""
    _, _, h, w = images_nchw.shape
    partner = images_nchw[rand_index[0]].transpose(1, 2, 0)
    x, y = np.unravel_index(np.argmax(saliency_bytes(np.ascontiguousarray(partner))), (h, w))
    ratio = np.sqrt(1.0 - lam)
    cut_rows, cut_cols = int(h * ratio), int(w * ratio)
    box = [int(np.clip(x - cut_rows // 2, 0, h)), int(np.clip(y - cut_cols // 2, 0, w)),
           int(np.clip(x + cut_rows // 2, 0, h)), int(np.clip(y + cut_cols // 2, 0, w))]
    r1, c1, r2, c2 = box
    mixed = images_nchw.copy()
    mixed[:, :, r1:r2, c1:c2] = images_nchw[rand_index][:, :, r1:r2, c1:c2]
    lam = 1 - (r2 - r1) * (c2 - c1) / (h * w)
    return box, (int(x), int(y)), mixed, lam


def _array(e, dtype):
    return np.asarray(e["data"], dtype).reshape(e["shape"])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = json.load(open(os.path.join(here, "saliencymix.json")))
    mean, std = d["normalize"]["mean"], d["normalize"]["std"]
    for case in d["detector"]:
        images = _array(case["images_uint8"], np.uint8)
        if case["pixels"] == "float32":
            images = np.ascontiguousarray(normalise(images, mean, std).transpose(0, 2, 3, 1))
        maps = np.stack([saliency_bytes(img) for img in images])
        assert np.array_equal(maps, _array(case["maps_uint8"], np.uint8)), case["pixels"]
        peaks = [np.unravel_index(np.argmax(m), m.shape) for m in maps]
        assert np.array_equal(np.asarray(peaks), _array(case["peaks"], np.int64))
    for case in d["mix"]:
        images = _array(case["images_uint8"], np.uint8)
        box, peak, mixed, lam = official_mix(
            normalise(images, mean, std), case["lam_draw"], np.asarray(case["rand_index"]))
        assert box == case["box"] and list(peak) == case["peak"], (box, peak)
        expected = normalise(_array(case["mixed_uint8"], np.uint8), mean, std)
        assert np.array_equal(mixed, expected)
        assert abs(lam - case["lam"]) < 1e-12
    return True


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
