"""Generates tests/data/vectors/guidedmixup.json from the official GuidedMixup code.

Not run by the tests (it imports torch). Run with the reference venv:

    /tmp/tv/bin/python tests/data/vectors/generators/guidedmixup.py [path/to/GuidedMixup.git]

It reads the official files straight out of a clone of `3neutronstar/GuidedMixup`
(a bare git directory is fine): `spectral_residual.py` (the `SpectralResidual`
class, used unchanged), and from `FGVC/` the pairing (`multi_greedy`, the
`--condition greedy` of the README commands) and the l2 `distance_function`,
taken out of their modules with `ast` (their modules import the whole training
code). The mixing lines of `GuidedMixupLearner._train` ('guided-sr') are
restated below line by line. torchvision 0.29 is imported without its C
extension (its meta registrations need a matching torch; the transforms used
here are pure Python).
"""

import ast
import json
import os
import subprocess
import sys
import tempfile
import types

import numpy as np

sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
import torch  # noqa: E402
import torchvision  # noqa: E402
import torchvision.transforms as transforms  # noqa: E402

REPO = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/3neutronstar+GuidedMixup/repo"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guidedmixup.json")


def git_show(path):
    return subprocess.run(["git", "--git-dir", REPO, "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def function_from(path, name, namespace):
    tree = ast.parse(git_show(path))
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module([node], []), path, "exec"), namespace)
    return namespace[name]


commit = subprocess.run(["git", "--git-dir", REPO, "rev-parse", "HEAD"], check=True,
                        capture_output=True, text=True).stdout.strip()
tmp = tempfile.mkdtemp()
with open(os.path.join(tmp, "official_spectral_residual.py"), "w") as f:
    f.write(git_show("spectral_residual.py"))
sys.path.insert(0, tmp)
from official_spectral_residual import SpectralResidual  # noqa: E402

import copy  # noqa: E402

multi_greedy = function_from("FGVC/Implementor/guidedmixup.py", "multi_greedy", {"np": np, "copy": copy})
distance_function = function_from("FGVC/Utils/distance.py", "distance_function", {"torch": torch})


def official_guided_sr(images, sigma):
    """GuidedMixupLearner._train, train_mode 'guided-sr', blur 7, given the outer blur's sigma."""
    saliency = SpectralResidual(7, 3, device="cpu")
    sc_a = saliency.transform_spectral_residual(images)
    raw = sc_a.clone()
    blur = transforms.GaussianBlur((7, 7), sigma=(sigma, sigma))
    sc_a = blur(sc_a)
    sc_a /= sc_a.sum(dim=[-1, -2], keepdim=True)  # _saliency_normalization 'sumto1'
    X = distance_function(sc_a, sc_a, "l2").cpu().numpy()
    sorted_indices = multi_greedy(X.copy(), 0)
    images_b = images[sorted_indices]
    sc_b = sc_a[sorted_indices]
    norm_sc_a = torch.div(sc_a, (sc_a + sc_b).detach())
    norm_sc_b = torch.div(sc_b, (sc_a + sc_b).detach())
    lam_a = norm_sc_a.mean(dim=[1, 2])
    lam_b = norm_sc_b.mean(dim=[1, 2])
    mask_a = torch.stack([norm_sc_a] * 3, dim=1)
    mask_b = torch.stack([norm_sc_b] * 3, dim=1)
    combined_images = mask_a * images + mask_b * images_b
    return dict(raw=raw, smoothed=sc_a, distance=X, index=sorted_indices, mask=norm_sc_a,
                lam_a=lam_a, lam_b=lam_b, mixed=combined_images)


def entry(x, digits=7, stride=None):
    x = np.asarray(x.detach().numpy() if torch.is_tensor(x) else x)
    if stride:
        x = x[..., ::stride, ::stride]
    data = [float(f"{v:.{digits}g}") for v in x.ravel().tolist()] if x.dtype.kind == "f" else x.ravel().tolist()
    return {"shape": list(x.shape), "data": data}


cases = []
for name, seed, shape, sigma, stride in [
    ("square", 0, (8, 3, 16, 16), 3.0, None),
    ("non_square", 1, (6, 3, 12, 20), 1.7, None),
    ("resized", 2, (3, 3, 136, 144), 3.0, 9),
]:
    # uint8 pixels from the legacy RandomState (a stream numpy keeps fixed), scaled to [0, 1].
    pixels = np.random.RandomState(seed).randint(0, 256, size=shape).astype(np.uint8)
    images = torch.tensor(pixels.astype(np.float32) / 255.0)
    out = official_guided_sr(images, sigma)
    case = {
        "name": name, "random_state_seed": seed, "shape": list(shape), "blur_sigma": sigma,
        "index": [int(i) for i in out["index"]],
        "lam": entry(out["lam_a"]), "lam_partner": entry(out["lam_b"]),
        "mixed_row_sums": entry(out["mixed"].sum(dim=[1, 2, 3]).double()),
        "stride": stride,
    }
    if stride is None:
        case["pixels"] = entry(pixels)
        case["saliency"] = entry(out["raw"], 6)
        case["smoothed"] = entry(out["smoothed"], 6)
        case["mask"] = entry(out["mask"], 6)
        case["distance"] = entry(out["distance"], 6)
        case["mixed_corner"] = entry(out["mixed"][:, :, :4, :4], 6)
    else:
        # Too large to store whole: every `stride`-th pixel, and the row sums.
        case["saliency"] = entry(out["raw"], 6, stride)
        case["saliency_row_sums"] = entry(out["raw"].sum(dim=[1, 2]).double())
        case["smoothed"] = entry(out["smoothed"], 6, stride)
        case["mask"] = entry(out["mask"], 6, stride)
    cases.append(case)

doc = {
    "source": "https://github.com/3neutronstar/GuidedMixup",
    "source_commit": commit,
    "functions": "spectral_residual.py SpectralResidual(7, 3).transform_spectral_residual; "
                 "FGVC/Implementor/guidedmixup.py multi_greedy and GuidedMixupLearner._train ('guided-sr', "
                 "blur 7, saliency_normalization 'sumto1', label_mixing 'saliency_label'); "
                 "FGVC/Utils/distance.py distance_function (l2)",
    "torch": torch.__version__, "torchvision": torchvision.__version__,
    "images": "np.random.RandomState(seed).randint(0, 256, shape) as uint8, / 255, NCHW",
    "cases": cases,
}
with open(OUT, "w") as f:
    json.dump(doc, f, separators=(",", ":"))
print(OUT, os.path.getsize(OUT), [c["index"] for c in cases])
