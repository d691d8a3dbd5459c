"""Independent NumPy re-statement of the official GuidedMixup 'guided-ap' mixing
(3neutronstar/GuidedMixup, FGVC/Implementor/guidedmixup.py), checked against guidedmixup_ap.json.

float64 throughout. The tiny model's forward pass (conv 3x3 'same', BatchNorm in training mode,
ReLU, mean over the pixels, Linear) and the input gradient of the mean cross-entropy (with label
smoothing) are written out by hand, backward pass included (no autodiff); then
`sqrt(mean_c grad^2)`, the 7x7 Gaussian blur (reflected borders), sum-to-1, l2 distances, the
greedy one-cycle pairing as a plain Python loop, and the saliency-ratio masks.

Run:  python guidedmixup_ap_numpy_ref.py   (exits 0 when it reproduces the JSON)
"""
import importlib.util
import json
import os
import sys

import numpy as np

BN_EPS = 1e-5


def conv3x3(x, kernel, bias):  # x (B, C, H, W), kernel (O, C, 3, 3): correlation, zero padding 1
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    h, w = x.shape[2:]
    out = np.zeros((x.shape[0], kernel.shape[0], h, w)) + bias[None, :, None, None]
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("bchw,oc->bohw", padded[:, :, dy:dy + h, dx:dx + w], kernel[:, :, dy, dx])
    return out


def conv3x3_input_grad(grad_out, kernel):  # the adjoint of conv3x3 w.r.t. its input
    b, _, h, w = grad_out.shape
    padded = np.zeros((b, kernel.shape[1], h + 2, w + 2))
    for dy in range(3):
        for dx in range(3):
            padded[:, :, dy:dy + h, dx:dx + w] += np.einsum("bohw,oc->bchw", grad_out, kernel[:, :, dy, dx])
    return padded[:, :, 1:-1, 1:-1]


def input_gradient(case, images, labels):
    """d mean_b CE(model(x)_b, smoothed one-hot) / dx, the model in training mode."""
    k = case["num_classes"]
    kernel, bias = arr(case["conv_kernel"]), arr(case["conv_bias"])
    gamma, beta = arr(case["bn_gamma"]), arr(case["bn_beta"])
    w_fc, b_fc = arr(case["dense_kernel"]), arr(case["dense_bias"])
    c = conv3x3(images, kernel, bias)
    mean = c.mean(axis=(0, 2, 3), keepdims=True)
    var = c.var(axis=(0, 2, 3), keepdims=True)  # batch statistics (biased), as in training
    xhat = (c - mean) / np.sqrt(var + BN_EPS)
    y = gamma[None, :, None, None] * xhat + beta[None, :, None, None]
    r = np.maximum(y, 0.0)
    h = r.mean(axis=(2, 3))
    logits = h @ w_fc.T + b_fc
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    s = case["label_smoothing"]
    targets = np.eye(k)[labels] * (1 - s) + s / k
    logp = np.log(p)
    loss = float(-(targets * logp).sum(1).mean())
    # Backward, by hand.
    d_logits = (p - targets) / len(labels)
    d_h = d_logits @ w_fc
    d_y = (d_h[:, :, None, None] / (c.shape[2] * c.shape[3])) * (y > 0)
    d_xhat = d_y * gamma[None, :, None, None]
    d_c = (d_xhat - d_xhat.mean(axis=(0, 2, 3), keepdims=True)
           - xhat * (d_xhat * xhat).mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(var + BN_EPS)
    return conv3x3_input_grad(d_c, kernel), logits, loss, mean.ravel()


# The blur and the greedy pairing are those of the 'sr' re-statement beside this file.
_spec = importlib.util.spec_from_file_location(
    "guidedmixup_numpy_ref", os.path.join(os.path.dirname(os.path.abspath(__file__)), "guidedmixup_numpy_ref.py"))
_SR = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_SR)
gaussian_kernel = _SR.gaussian_kernel
greedy = _SR.greedy


def filter2d(maps, kernel):  # correlation with a (k, k) kernel, reflected borders
    return _SR.filter2d(maps, kernel, "reflect")


def guided_ap(case, images, labels):
    grad, logits, loss, bn_mean = input_gradient(case, images, labels)
    raw = np.sqrt((grad ** 2).mean(axis=1))
    s = filter2d(raw, gaussian_kernel(7, case["blur_sigma"]))
    s = s / s.sum(axis=(1, 2), keepdims=True)
    flat = s.reshape(len(s), -1)
    distances = np.sqrt(((flat[:, None] - flat[None]) ** 2).sum(-1))
    index = greedy(distances)
    mask = s / (s + s[index])
    mixed = mask[:, None] * images + (1 - mask[:, None]) * images[index]
    return dict(grad=grad, logits=logits, loss=loss, bn_mean=bn_mean, saliency=raw, smoothed=s,
                distance=distances, index=index, mask=mask, lam=mask.mean(axis=(1, 2)), mixed=mixed)


def arr(entry):
    return np.asarray(entry["data"], np.float64).reshape(entry["shape"])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    doc = json.load(open(os.path.join(here, "guidedmixup_ap.json")))
    worst = 0.0
    for case in doc["cases"]:
        images = arr(case["pixels"]) / 255.0
        out = guided_ap(case, images, np.asarray(case["labels"]))
        assert out["index"].tolist() == case["index"], (case["name"], out["index"], case["index"])
        worst = max(worst, abs(out["loss"] - case["loss"]) / case["loss"])
        # Momentum 0.1 from zero: the official running mean is 0.1 * the batch mean.
        for name, value in [("saliency", out["saliency"]), ("distance", out["distance"]),
                            ("mask", out["mask"]), ("lam", out["lam"]), ("logits", out["logits"]),
                            ("running_mean", 0.1 * out["bn_mean"]),
                            ("smoothed_corner", out["smoothed"][:, :4, :4]),
                            ("mixed_corner", out["mixed"][:, :, :4, :4])]:
            ref = arr(case[name])
            worst = max(worst, float(np.max(np.abs(value - ref)) / np.abs(ref).max()))
        for name, value in [("gradient_row_sums", np.abs(out["grad"]).sum(axis=(1, 2, 3))),
                            ("mixed_row_sums", out["mixed"].sum(axis=(1, 2, 3)))]:
            ref = arr(case[name])
            worst = max(worst, float(np.max(np.abs(value - ref) / np.abs(ref))))
    print("worst relative difference", worst)
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
