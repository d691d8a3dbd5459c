"""Generates tests/data/vectors/guidedmixup_ap.json: GuidedMixup's 'guided-ap' from the official code.

Not run by the tests (it imports torch). Run with the reference venv:

    /tmp/tv/bin/python tests/data/vectors/generators/guidedmixup_ap.py [path/to/GuidedMixup.git]

The 'ap' companion of `guidedmixup.py`. It reads the official `multi_greedy`
(`FGVC/Implementor/guidedmixup.py`) and the l2 `distance_function`
(`FGVC/Utils/distance.py`) out of a clone of `3neutronstar/GuidedMixup` with
`ast` (their modules import the whole training code), and restates the
'guided-ap' lines of `GuidedMixupLearner._train` line by line: zero the
gradients, a clean forward pass of the model in train mode with
`images_a.requires_grad = True`, `loss.backward()` of the training criterion
(`nn.CrossEntropyLoss()`, mean over the batch; `label_smoothing=` for the
smoothed case), `sc_a = sqrt(mean_c grad^2)`, `self.model.train()` and
`self.optimizer.zero_grad()` (so no parameter update from that pass, with the
default `clean_lam=0`), then the same blur / sum-to-1 / greedy pairing /
saliency-ratio mix as 'guided-sr'. The model is tiny (conv 3x3 'same' ->
BatchNorm2d in train mode -> ReLU -> global average pool -> Linear), seeded,
and its weights are stored in the json so that the tests rebuild it in Keras.
"""

import ast
import copy
import json
import os
import subprocess
import sys
import types

import numpy as np

sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torchvision  # noqa: E402
import torchvision.transforms as transforms  # noqa: E402

REPO = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/3neutronstar+GuidedMixup/repo"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guidedmixup_ap.json")


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
multi_greedy = function_from("FGVC/Implementor/guidedmixup.py", "multi_greedy", {"np": np, "copy": copy})
distance_function = function_from("FGVC/Utils/distance.py", "distance_function", {"torch": torch})


class TinyNet(nn.Module):
    def __init__(self, channels, classes):
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)  # eps 1e-5, momentum 0.1
        self.fc = nn.Linear(4, classes)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(x.mean(dim=[2, 3]))


def official_guided_ap(model, optimizer, criterion, images, targets, sigma):
    """GuidedMixupLearner._train, train_mode 'guided-ap', clean_lam 0, blur 7, greedy pairing."""
    model.train()
    optimizer.zero_grad()
    images_a = images.clone()
    images_a.requires_grad = True
    outputs = model(images_a)  # _forward_all(images_a, targets)
    loss = criterion(outputs, targets)
    loss.backward(retain_graph=False)  # _just_backward
    sc_a = (((images_a.grad) ** 2).mean(dim=1)).sqrt().detach()
    raw = sc_a.clone()
    model.train()
    optimizer.zero_grad()
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())  # no update from it
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
    return dict(loss=loss, logits=outputs, grad=images_a.grad, raw=raw, smoothed=sc_a, distance=X,
                index=sorted_indices, mask=norm_sc_a, lam_a=lam_a, lam_b=lam_b, mixed=combined_images,
                running_mean=model.bn.running_mean, running_var=model.bn.running_var)


def entry(x, digits=7):
    x = np.asarray(x.detach().numpy() if torch.is_tensor(x) else x)
    data = [float(f"{v:.{digits}g}") for v in x.ravel().tolist()] if x.dtype.kind == "f" else x.ravel().tolist()
    return {"shape": list(x.shape), "data": data}


cases = []
for name, seed, shape, classes, sigma, smoothing in [
    ("square", 0, (8, 3, 16, 16), 5, 3.0, 0.0),
    ("non_square_smoothed", 1, (6, 3, 12, 20), 4, 1.7, 0.1),
]:
    torch.manual_seed(seed)
    model = TinyNet(shape[1], classes)
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    pixels = np.random.RandomState(seed).randint(0, 256, size=shape).astype(np.uint8)
    images = torch.tensor(pixels.astype(np.float32) / 255.0)
    labels = np.random.RandomState(100 + seed).randint(0, classes, size=shape[0])
    criterion = nn.CrossEntropyLoss(label_smoothing=smoothing)
    out = official_guided_ap(model, optimizer, criterion, images, torch.tensor(labels), sigma)
    cases.append({
        "name": name, "random_state_seed": seed, "shape": list(shape), "num_classes": classes,
        "blur_sigma": sigma, "label_smoothing": smoothing,
        "conv_kernel": entry(weights["conv.weight"]), "conv_bias": entry(weights["conv.bias"]),
        "bn_gamma": entry(weights["bn.weight"]), "bn_beta": entry(weights["bn.bias"]),
        "dense_kernel": entry(weights["fc.weight"]), "dense_bias": entry(weights["fc.bias"]),
        "pixels": entry(pixels), "labels": [int(v) for v in labels],
        "loss": float(out["loss"].detach()), "logits": entry(out["logits"]),
        "running_mean": entry(out["running_mean"]), "running_var": entry(out["running_var"]),
        "gradient_row_sums": entry(out["grad"].abs().sum(dim=[1, 2, 3]).double()),
        "saliency": entry(out["raw"], 6), "smoothed_corner": entry(out["smoothed"][:, :4, :4], 6),
        "distance": entry(out["distance"], 6), "index": [int(i) for i in out["index"]],
        "mask": entry(out["mask"], 6), "lam": entry(out["lam_a"]), "lam_partner": entry(out["lam_b"]),
        "mixed_corner": entry(out["mixed"][:, :, :4, :4], 6),
        "mixed_row_sums": entry(out["mixed"].sum(dim=[1, 2, 3]).double()),
    })

doc = {
    "source": "https://github.com/3neutronstar/GuidedMixup",
    "source_commit": commit,
    "functions": "FGVC/Implementor/guidedmixup.py GuidedMixupLearner._train ('guided-ap', clean_lam 0, "
                 "blur 7, saliency_normalization 'sumto1', label_mixing 'saliency_label') restated, with "
                 "multi_greedy (greedy pairing); FGVC/Utils/distance.py distance_function (l2)",
    "model": "Conv2d(C, 4, 3, padding=1) -> BatchNorm2d(4) (train mode) -> ReLU -> mean over H, W -> "
             "Linear(4, K); torch.manual_seed(seed) initial weights (stored, torch layouts)",
    "loss": "nn.CrossEntropyLoss(label_smoothing=label_smoothing), mean over the batch",
    "torch": torch.__version__, "torchvision": torchvision.__version__,
    "images": "np.random.RandomState(seed).randint(0, 256, shape) as uint8, / 255, NCHW; labels "
              "np.random.RandomState(100 + seed).randint(0, K, B)",
    "cases": cases,
}
with open(OUT, "w") as f:
    json.dump(doc, f, separators=(",", ":"))
print(OUT, os.path.getsize(OUT), [c["index"] for c in cases], [c["loss"] for c in cases])
