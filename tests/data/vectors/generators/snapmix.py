"""Generates tests/data/vectors/snapmix.json from the official SnapMix code.

Not run by the tests (it needs PyTorch and the upstream repository). Run:

    git clone https://github.com/Shaoli-Huang/SnapMix /tmp/SnapMix   # or a bare mirror
    /tmp/tv/bin/python tests/data/vectors/generators/snapmix.py /path/to/SnapMix/git-dir

It reads `utils/mixmethod.py` (`get_spm`, `snapmix`) and `utils/custom_ops.py`
(`rand_bbox`) at commit COMMIT from the repository with `git show`, executes
them unchanged except for three shims that do not touch the arithmetic:
`.cuda()` is a no-op (CPU), `np.int` (removed in NumPy 2) is `int`, and every
random draw (`np.random.rand/beta/randint`, `torch.randperm`) is recorded. The
third case also replaces `imgsize = (conf.cropsize,conf.cropsize)` in
`get_spm` by the input's own `(H, W)` so that a non-square image can be mixed
(the official code assumes square crops).

The tiny model: a conv feature layer on 2-channel images (kernel 4, stride 4, 5 channels), the
spatial average pool and a Linear classifier, with seeded weights written to
the json so that the tests rebuild it in Keras.
"""

import json
import subprocess
import sys
import types

import numpy as np
import torch
import torch.nn as nn

COMMIT = "245bda44444879563fafad90062655e2911cc75d"
NUM_CLASSES = 3
CHANNELS = 5
IMAGE_CHANNELS = 2


def upstream(git_dir, path):
    return subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{COMMIT}:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout


class Recorder:
    """numpy's module with `np.int` restored and np.random draws recorded."""

    def __init__(self, seed):
        self.state = np.random.RandomState(seed)
        self.draws = []
        self.int = int
        self.random = self

    def __getattr__(self, name):
        return getattr(np, name)

    def rand(self, *args):
        value = self.state.rand(*args)
        self.draws.append(("rand", value.tolist()))
        return value

    def beta(self, a, b):
        value = self.state.beta(a, b)
        self.draws.append(("beta", float(value)))
        return value

    def randint(self, high):
        value = self.state.randint(high)
        self.draws.append(("randint", int(value)))
        return value


class TorchProxy:
    def __init__(self, seed):
        self.generator = torch.Generator().manual_seed(seed)
        self.perms = []

    def __getattr__(self, name):
        return getattr(torch, name)

    def randperm(self, n):
        value = torch.randperm(n, generator=self.generator)
        self.perms.append(value.tolist())
        return value


class Net(nn.Module):
    def __init__(self, seed, zero_bias=False):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(IMAGE_CHANNELS, CHANNELS, 4, stride=4)
        self.classifier = nn.Linear(CHANNELS, NUM_CLASSES)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.5)
            self.conv.bias.copy_(torch.randn(self.conv.bias.shape, generator=g) * 0.1)
            self.classifier.weight.copy_(torch.randn(self.classifier.weight.shape, generator=g))
            self.classifier.bias.copy_(torch.randn(self.classifier.bias.shape, generator=g) * 0.1)
            if zero_bias:
                self.conv.bias.zero_()
                self.classifier.bias.zero_()

    def forward(self, x):
        fms = self.conv(x)
        logits = self.classifier(fms.mean(dim=(2, 3)))
        return logits, fms.detach(), None


class Wrapped(nn.Module):
    """`model.module.classifier`, as the official DataParallel model."""

    def __init__(self, net):
        super().__init__()
        self.module = net

    def forward(self, x):
        return self.module(x)


def load_functions(git_dir, seed, square=True):
    mixmethod = upstream(git_dir, "utils/mixmethod.py")
    custom_ops = upstream(git_dir, "utils/custom_ops.py")
    if not square:
        old = "imgsize = (conf.cropsize,conf.cropsize)"
        assert mixmethod.count(old) == 1
        mixmethod = mixmethod.replace(old, "imgsize = tuple(input.shape[-2:])")
    rec_np, rec_torch = Recorder(seed), TorchProxy(seed)
    ops_ns = {}
    exec(compile(custom_ops, "custom_ops.py", "exec"), ops_ns)
    ops_ns["np"] = rec_np
    fake_utils = types.ModuleType("utils")
    fake_utils.rand_bbox = ops_ns["rand_bbox"]
    sys.modules.setdefault("imp", types.ModuleType("imp"))
    saved = sys.modules.get("utils")
    sys.modules["utils"] = fake_utils
    ns = {}
    try:
        exec(compile(mixmethod, "mixmethod.py", "exec"), ns)
    finally:
        if saved is None:
            del sys.modules["utils"]
        else:
            sys.modules["utils"] = saved
    ns["np"] = rec_np
    ns["torch"] = rec_torch
    ns["utils"] = fake_utils
    return ns, rec_np, rec_torch


def entry(x):
    x = np.asarray(x)
    if x.dtype.kind == "f":
        # 7 significant digits (float32 carries about 7): small json, ~1e-7 relative.
        data = [float(f"{v:.7g}") for v in x.astype(np.float64).ravel()]
    else:
        data = x.ravel().tolist()
    return {"shape": list(x.shape), "data": data}


def run_case(git_dir, name, seed, height, width, labels, zero_bias=False, zero_image=None):
    square = height == width
    ns, rec_np, rec_torch = load_functions(git_dir, seed, square)
    net = Net(seed, zero_bias)
    model = Wrapped(net)
    conf = types.SimpleNamespace(cropsize=height, netname="resnet18", prob=1.0, beta=1.0)
    g = torch.Generator().manual_seed(100 + seed)
    # Multiples of 1/64: exact in float32 and short in the json.
    images = torch.randint(0, 65, (len(labels), IMAGE_CHANNELS, height, width), generator=g).float() / 64.0
    if zero_image is not None:
        images[zero_image] = 0.0
    target = torch.tensor(labels)
    cams, _ = ns["get_spm"](images.clone(), target, conf, model)
    rec_np.draws.clear()
    mixed, target_a, target_b, lam_a, lam_b = ns["snapmix"](images.clone(), target, conf, model)
    kinds = [k for k, _ in rec_np.draws]
    assert kinds == ["rand", "beta", "beta", "randint", "randint", "randint", "randint"], kinds
    values = [v for _, v in rec_np.draws]
    lam, lam1 = values[1], values[2]
    cx, cy, cx1, cy1 = values[3:7]

    def box(lam, cx, cy):
        # rand_bbox's arithmetic (W = size[2] = the image rows, H = size[3] = the columns).
        size_w, size_h = height, width
        cut_rat = np.sqrt(1.0 - lam)
        cut_w, cut_h = int(size_w * cut_rat), int(size_h * cut_rat)
        return [int(np.clip(cx - cut_w // 2, 0, size_w)), int(np.clip(cy - cut_h // 2, 0, size_h)),
                int(np.clip(cx + cut_w // 2, 0, size_w)), int(np.clip(cy + cut_h // 2, 0, size_h))]

    b, b1 = box(lam, cx, cy), box(lam1, cx1, cy1)
    mixed = mixed.numpy()
    inside = np.zeros(mixed.shape, bool)
    if (b[2] - b[0]) * (b[3] - b[1]) > 0 and (b1[2] - b1[0]) * (b1[3] - b1[1]) > 0:
        inside[:, :, b[0]:b[2], b[1]:b[3]] = True
    # Outside the pasted box the mixed images are the inputs: only the box is stored.
    assert np.array_equal(mixed[~inside], images.numpy()[~inside])
    return {
        "name": name,
        "seed": seed,
        "height": height,
        "width": width,
        "prob": conf.prob,
        "beta": conf.beta,
        "labels": list(labels),
        "conv_kernel": entry(net.conv.weight.detach().numpy()),
        "conv_bias": entry(net.conv.bias.detach().numpy()),
        "dense_kernel": entry(net.classifier.weight.detach().numpy()),
        "dense_bias": entry(net.classifier.bias.detach().numpy()),
        "images": entry(images.numpy()),
        "r": values[0][0],
        "lam": lam,
        "lam1": lam1,
        "rand_index": rec_torch.perms[0],
        "centres": [cx, cy, cx1, cy1],
        "box": b,
        "box1": b1,
        "cams": entry(cams.numpy()),
        "mixed_box": entry(mixed[:, :, b[0]:b[2], b[1]:b[3]] if inside.any() else mixed[:, :, :0, :0]),
        "target_b": target_b.tolist(),
        "lam_a": lam_a.tolist(),
        "lam_b": lam_b.tolist(),
    }


def main():
    git_dir = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/Shaoli-Huang+SnapMix/repo"
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.set_num_threads(1)
    cases = [
        run_case(git_dir, "square", 3, 16, 16, [0, 1, 2, 0, 1, 2]),
        run_case(git_dir, "constant_map_and_same_labels", 7, 16, 16, [0, 0, 1, 1, 2, 2],
                 zero_bias=True, zero_image=1),
        run_case(git_dir, "non_square", 15, 12, 16, [2, 1, 0, 1, 2]),
        run_case(git_dir, "empty_box", 11, 12, 16, [2, 1, 0, 1, 2]),
    ]
    out = {
        "source": "https://github.com/Shaoli-Huang/SnapMix utils/mixmethod.py get_spm + snapmix",
        "source_commit": COMMIT,
        "torch": torch.__version__,
        "layout": "images NCHW; mixed_box = the mixed images inside box (NCHW; the rest equals images); cams (B, H, W); box = [bbx1, bby1, bbx2, bby2] with bbx "
                  "along dim 2 (rows) and bby along dim 3 (columns), half-open",
        "cases": cases,
    }
    path = "tests/data/vectors/snapmix.json"
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    for case in cases:
        print(case["name"], case["box"], case["box1"], case["rand_index"], case["lam_a"], case["lam_b"])


if __name__ == "__main__":
    main()
