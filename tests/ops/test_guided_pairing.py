"""GuidedMixup's smoothing, greedy pairing and masks equal the official code."""

import importlib.util

import numpy as np
import pytest

from kmix.ops import guided_pairing as gp
from kmix.ops.spectral_residual import spectral_residual_saliency
from tests import vectors

_spec = importlib.util.spec_from_file_location(
    "guidedmixup_numpy_ref", vectors.VECTORS / "guidedmixup_numpy_ref.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

DATA = vectors.load("guidedmixup")


def test_the_numpy_restatement_reproduces_the_official_vectors():
    assert ref.main() == 0


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_smoothing_pairing_and_masks_equal_the_official(case):
    stride = case["stride"] or 1
    if "pixels" in case:
        images = vectors.array(case["pixels"]).astype(np.float32) / 255.0
    else:
        images = np.random.RandomState(case["random_state_seed"]).randint(0, 256, size=case["shape"])
        images = images.astype(np.uint8).astype(np.float32) / 255.0
    maps = gp.normalize_saliency(spectral_residual_saliency(images, channels_first=True), 7, case["blur_sigma"])
    np.testing.assert_allclose(maps.numpy()[:, ::stride, ::stride], vectors.array(case["smoothed"]), rtol=2e-5)
    distances = gp.saliency_distances(maps)
    if "distance" in case:
        np.testing.assert_allclose(distances.numpy(), vectors.array(case["distance"]), rtol=1e-4, atol=1e-8)
    index = gp.greedy_pairing(distances).numpy()
    assert index.tolist() == case["index"]
    mask = gp.guided_mask(maps, index).numpy()
    np.testing.assert_allclose(mask[:, ::stride, ::stride], vectors.array(case["mask"]), atol=2e-6)
    np.testing.assert_allclose(mask.mean((1, 2)), vectors.array(case["lam"]), atol=1e-6)
    # The official partner weight `s_b / (s_a + s_b)` is `1 - mask`.
    np.testing.assert_allclose(1.0 - mask.mean((1, 2)), vectors.array(case["lam_partner"]), atol=1e-6)


@pytest.mark.parametrize("batch", [1, 2, 3, 7])
def test_greedy_walk_equals_the_loop_and_is_one_cycle(batch):
    rng = np.random.default_rng(batch)
    for _ in range(3):
        points = rng.random((batch, 5))
        distances = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1)).astype(np.float32)
        index = gp.greedy_pairing(distances).numpy()
        assert index.tolist() == ref.greedy(distances).tolist()
        assert sorted(index.tolist()) == list(range(batch))
        # One cycle through the whole batch; no row is its own partner.
        seen, row = set(), 0
        for _ in range(batch):
            seen.add(row)
            row = index[row]
        assert len(seen) == batch and (batch == 1 or np.all(index != np.arange(batch)))


def test_blank_maps_where_the_official_divides_by_zero():
    # Official form: 0 / 0 is NaN (the numpy re-statement keeps it).
    blank = np.zeros((2, 4, 4))
    with np.errstate(invalid="ignore"):
        assert np.isnan(blank / blank.sum(axis=(1, 2), keepdims=True)).all()
    # kmix: a blank map is uniform, and a pixel both maps leave at 0 is shared evenly.
    maps = gp.normalize_saliency(blank.astype(np.float32), 7, 3.0).numpy()
    np.testing.assert_allclose(maps, 1.0 / 16)
    sparse = np.zeros((2, 2, 2), np.float32)
    sparse[0, 0, 0] = 1.0
    mask = gp.guided_mask(sparse, [1, 0]).numpy()
    assert mask[0, 0, 0] == 1.0 and mask[1, 0, 0] == 0.0 and mask[0, 1, 1] == 0.5


def test_the_xla_walk_equals_the_plain_one():
    # Batches of at least XLA_MIN_BATCH pair in one XLA kernel: the same cycle.
    distances = np.random.default_rng(4).random((gp.XLA_MIN_BATCH, gp.XLA_MIN_BATCH)).astype(np.float32)
    distances[3, 5] = distances[7, 2] = distances.max()  # a tie: the first in row-major order wins
    got = gp.greedy_pairing(distances).numpy()
    np.testing.assert_array_equal(got, gp._greedy_pairing(distances).numpy())
    assert got[3] == 5
