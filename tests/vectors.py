"""Loads the reference vectors in tests/data/vectors (copied from the official-code runs)."""

import json
import pathlib

import numpy as np

VECTORS = pathlib.Path(__file__).parent / "data" / "vectors"


def load(name):
    """Returns the parsed JSON of `name` (e.g. "transmix")."""
    return json.loads((VECTORS / f"{name}.json").read_text())


def array(entry, dtype=None):
    """Turns a `{"shape": [...], "data": [...]}` entry into a numpy array."""
    out = np.asarray(entry["data"]).reshape(entry["shape"])
    return out.astype(dtype) if dtype is not None else out
