"""Independent NumPy re-statement of the official GuidedMixup 'guided-sr' mixing
(3neutronstar/GuidedMixup: spectral_residual.py, FGVC/Implementor/guidedmixup.py),
checked against guidedmixup.json. float64 throughout, direct 2-D filters with explicit
padding (no matrices), `np.fft`, and the greedy walk as a plain Python loop.

Run:  python guidedmixup_numpy_ref.py   (exits 0 when it reproduces the JSON)
"""
import json
import os
import sys

import numpy as np


def grayscale(images):  # (B, 3, H, W) -> (B, H, W), torchvision's weights
    return 0.2989 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]


def filter2d(maps, kernel, mode):  # correlation with a (k, k) kernel, 'reflect' or 'edge' padding
    r = kernel.shape[0] // 2
    padded = np.pad(maps, ((0, 0), (r, r), (r, r)), mode=mode)
    out = np.zeros_like(maps)
    h, w = maps.shape[1:]
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            out += kernel[dy, dx] * padded[:, dy:dy + h, dx:dx + w]
    return out


def gaussian_kernel(size, sigma):
    x = np.linspace(-(size - 1) / 2, (size - 1) / 2, size)
    pdf = np.exp(-0.5 * (x / sigma) ** 2)
    k = pdf / pdf.sum()
    return np.outer(k, k)


def spectral_residual(images):  # H <= 128 only (the resize is not re-stated here)
    freq = np.fft.fft2(grayscale(images))
    mag = np.sqrt(freq.real ** 2 + freq.imag ** 2 + 1e-10)
    residual = np.exp(np.log(mag) - filter2d(np.log(mag), np.full((3, 3), 1 / 9), "edge"))
    saliency = np.abs(np.fft.ifft2(freq * residual / mag))
    return filter2d(saliency, gaussian_kernel(7, 3.0), "reflect")


def greedy(distances):
    d = distances.copy()
    n = d.shape[0]
    np.fill_diagonal(d, -np.inf)
    partner = np.zeros(n, int)
    first, col = divmod(int(np.argmax(d)), n)
    partner[first] = col
    d[:, first] = -np.inf
    for _ in range(n - 2):
        row = col
        col = int(np.argmax(d[row]))
        partner[row] = col
        d[:, row] = -np.inf
    partner[col] = first
    return partner


def guided_sr(images, sigma):
    raw = spectral_residual(images)
    s = filter2d(raw, gaussian_kernel(7, sigma), "reflect")
    s = s / s.sum(axis=(1, 2), keepdims=True)
    flat = s.reshape(len(s), -1)
    distances = np.sqrt(((flat[:, None] - flat[None]) ** 2).sum(-1))
    index = greedy(distances)
    mask = s / (s + s[index])
    mixed = mask[:, None] * images + (1 - mask[:, None]) * images[index]
    return raw, s, distances, index, mask, mask.mean(axis=(1, 2)), mixed


def arr(entry):
    return np.asarray(entry["data"], np.float64).reshape(entry["shape"])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    doc = json.load(open(os.path.join(here, "guidedmixup.json")))
    worst = 0.0
    for case in doc["cases"]:
        if case["stride"] is not None:
            continue
        images = arr(case["pixels"]) / 255.0
        raw, s, dist, index, mask, lam, mixed = guided_sr(images, case["blur_sigma"])
        assert index.tolist() == case["index"], (case["name"], index, case["index"])
        for name, value in [("saliency", raw), ("smoothed", s), ("distance", dist), ("mask", mask),
                            ("lam", lam), ("mixed_corner", mixed[:, :, :4, :4])]:
            ref = arr(case[name])
            worst = max(worst, float(np.max(np.abs(value - ref) / (np.abs(ref) + 1e-12))))
        worst = max(worst, float(np.max(np.abs(mixed.sum(axis=(1, 2, 3)) - arr(case["mixed_row_sums"])))
                                 / np.abs(arr(case["mixed_row_sums"])).max()))
    print("worst relative difference", worst)
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
