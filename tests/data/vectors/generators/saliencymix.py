"""Generates tests/data/vectors/saliencymix.json from the official SaliencyMix code.

Not run by the tests (it needs PyTorch, OpenCV and the upstream repository). Run:

    /tmp/tv/bin/pip install opencv-contrib-python-headless   # 5.1.0 here
    git clone --bare https://github.com/afm-shahab-uddin/SaliencyMix /tmp/SaliencyMix.git
    /tmp/tv/bin/python tests/data/vectors/generators/saliencymix.py /tmp/SaliencyMix.git

It reads `SaliencyMix_CIFAR/saliencymix.py` at COMMIT with `git show`, takes its
`saliency_bbox` function and the mixing block of its train loop (from
`lam = np.random.beta(...)` to the `lam = 1 - ...` correction) unchanged, and
executes them with two shims that do not touch the arithmetic: `np.int`
(removed in NumPy 2) is `int`, and `.cuda()` is a no-op (CPU).

Images: seeded uint8 images (noise plus a bright square), turned into the
official input as torchvision's `ToTensor()` + `Normalize(CIFAR mean, std)` do
(`x.float().div(255)`, then `sub_(mean).div_(std)` with float32 mean/std), so
`temp_img` is the float32 HWC array the official code hands OpenCV. The json
stores the uint8 images; the generator checks that the numpy restatement of
that normalisation (used by the tests) gives the same float32 bits.

"detector": OpenCV's `StaticSaliencyFineGrained.computeSaliency` maps (times
255, as bytes) of float32 normalised images (`"float32"`, the official call)
and of the uint8 images themselves (`"uint8"`), sizes 16x16, 20x12, 32x32,
with the first argmax (row, column).

"mix": the official batch mixing on 4 images given its draws (`lam` from
`np.random.beta(1, 1)` after `np.random.seed`, `rand_index` from
`torch.randperm` after `torch.manual_seed`): the box `(bbx1, bby1, bbx2, bby2)`
(rows bbx1:bbx2, columns bby1:bby2 of the NCHW tensor), the corrected lam, and
the mixed images stored back as uint8 (the generator checks that normalising
them gives the official float32 output bit for bit).
"""

import json
import subprocess
import sys
import textwrap
import types

import cv2
import numpy as np
import torch

COMMIT = "9ee02b87974efab1ee7a5229408a58a0e0bbf825"
PATH = "SaliencyMix_CIFAR/saliencymix.py"
MEAN = [x / 255.0 for x in [125.3, 123.0, 113.9]]
STD = [x / 255.0 for x in [63.0, 62.1, 66.7]]


def upstream(git_dir):
    return subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{COMMIT}:{PATH}"],
        check=True, capture_output=True, text=True,
    ).stdout


def official_pieces(source):
    """The official `saliency_bbox` and the mixing block of the train loop."""
    lines = source.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("def saliency_bbox"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("    return bbx1"))
    function = "\n".join(lines[start:end + 1])
    first = next(i for i, l in enumerate(lines) if "lam = np.random.beta(args.beta" in l)
    last = next(i for i in range(first, len(lines)) if "lam = 1 - ((bbx2 - bbx1)" in lines[i])
    block = textwrap.dedent("\n".join(lines[first:last + 1]))
    return function, block




def _numpy_shim():
    shim = types.ModuleType("numpy_shim")
    shim.__dict__.update(np.__dict__)
    shim.int = int
    return shim


def to_official(images_u8):
    """ToTensor + Normalize, as torchvision: (B, H, W, 3) uint8 -> (B, 3, H, W) float32."""
    x = torch.from_numpy(images_u8).permute(0, 3, 1, 2).contiguous().float().div(255)
    mean = torch.as_tensor(MEAN, dtype=torch.float32)[:, None, None]
    std = torch.as_tensor(STD, dtype=torch.float32)[:, None, None]
    return x.sub_(mean).div_(std)


def numpy_normalise(images_u8):
    """The tests' restatement of `to_official` (float32 throughout)."""
    x = np.transpose(images_u8, (0, 3, 1, 2)).astype(np.float32) / np.float32(255)
    mean = np.asarray(MEAN, np.float32)[:, None, None]
    std = np.asarray(STD, np.float32)[:, None, None]
    return (x - mean) / std


def seeded_images(rng, batch, height, width):
    images = rng.integers(0, 200, size=(batch, height, width, 3))
    for b in range(batch):
        y, x = rng.integers(0, height - 3), rng.integers(0, width - 3)
        images[b, y:y + 3, x:x + 3] = 255
    return images.astype(np.uint8)


def entry(array):
    array = np.asarray(array)
    return {"shape": list(array.shape), "data": array.reshape(-1).tolist()}


def main(git_dir):
    function, block = official_pieces(upstream(git_dir))
    namespace = {"np": _numpy_shim(), "cv2": cv2, "torch": torch}
    exec(function, namespace)
    saliency = cv2.saliency.StaticSaliencyFineGrained_create()
    rng = np.random.default_rng(12)

    detector = []
    for height, width in [(16, 16), (20, 12), (32, 32)]:
        images = seeded_images(rng, 2, height, width)
        official = to_official(images)
        assert np.array_equal(official.numpy().view(np.uint32), numpy_normalise(images).view(np.uint32))
        for pixels in ("float32", "uint8"):
            maps, peaks = [], []
            for b in range(2):
                img = official[b].numpy().transpose(1, 2, 0) if pixels == "float32" else images[b]
                _, saliency_map = saliency.computeSaliency(img)
                saliency_map = (saliency_map * 255).astype("uint8")
                maps.append(saliency_map)
                peaks.append(np.unravel_index(np.argmax(saliency_map, axis=None), saliency_map.shape))
            detector.append({
                "pixels": pixels,
                "images_uint8": entry(images),
                "maps_uint8": entry(np.stack(maps)),
                "peaks": entry(np.asarray(peaks, np.int64)),
            })

    mix = []
    for case, (height, width, seed) in enumerate([(16, 16, 0), (20, 12, 1), (24, 16, 2), (12, 20, 3)]):
        images = seeded_images(rng, 4, height, width)
        inputs = to_official(images)
        before = inputs.clone()
        np.random.seed(seed)
        torch.manual_seed(seed)
        scope = dict(namespace)
        scope.update({
            "args": types.SimpleNamespace(beta=1.0),
            "images": inputs,
            "labels": torch.arange(4),
        })
        original_cuda = torch.Tensor.cuda
        torch.Tensor.cuda = lambda self, *a, **k: self
        try:
            np.random.seed(seed)
            lam_draw = np.random.beta(1.0, 1.0)
            np.random.seed(seed)
            exec(block, scope)
        finally:
            torch.Tensor.cuda = original_cuda
        rand_index = scope["rand_index"].numpy()
        mixed = scope["images"]
        # The mixed tensor holds copies of input pixels: store it as uint8 and
        # check that normalising that gives the official output bit for bit.
        mixed_u8 = images.copy()
        bbx1, bby1, bbx2, bby2 = (int(scope[k]) for k in ("bbx1", "bby1", "bbx2", "bby2"))
        mixed_u8[:, bbx1:bbx2, bby1:bby2] = images[rand_index][:, bbx1:bbx2, bby1:bby2]
        assert np.array_equal(numpy_normalise(mixed_u8).view(np.uint32), mixed.numpy().view(np.uint32))
        _, partner_map = saliency.computeSaliency(before[rand_index[0]].numpy().transpose(1, 2, 0))
        peak = np.unravel_index(np.argmax((partner_map * 255).astype("uint8")), partner_map.shape)
        mix.append({
            "images_uint8": entry(images),
            "lam_draw": float(lam_draw),
            "rand_index": rand_index.tolist(),
            "box": [bbx1, bby1, bbx2, bby2],
            "peak": [int(peak[0]), int(peak[1])],
            "lam": float(scope["lam"]),
            "mixed_uint8": entry(mixed_u8),
        })

    out = {
        "source": {
            "repo": "afm-shahab-uddin/SaliencyMix",
            "commit": COMMIT,
            "path": PATH,
            "functions": ["saliency_bbox", "train-loop mixing block"],
            "opencv": cv2.__version__,
        },
        "torch_version": torch.__version__,
        "normalize": {"mean": MEAN, "std": STD},
        "description": (
            "detector: OpenCV StaticSaliencyFineGrained maps (x255, uint8) of the "
            "normalised float32 HWC image (pixels='float32', the official call) or "
            "of the uint8 HWC image (pixels='uint8'); images stored as uint8 HWC, "
            "normalised as ToTensor+Normalize(mean, std) in float32. mix: the "
            "official batch mixing given lam_draw and rand_index; box = (bbx1, "
            "bby1, bbx2, bby2): rows bbx1:bbx2, columns bby1:bby2; lam = the "
            "corrected own share; mixed images stored as uint8 HWC."
        ),
        "detector": detector,
        "mix": mix,
    }
    path = "tests/data/vectors/saliencymix.json"
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", path)


if __name__ == "__main__":
    main(sys.argv[1])
