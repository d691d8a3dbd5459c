"""kmix.ops.windows: SMMix's attention reduction, window scores and choice, region pooling (smmix.json)."""

import importlib.util

import numpy as np
import pytest

from kmix.ops.windows import patch_attention
from kmix.ops.windows import region_mean
from kmix.ops.windows import smmix_windows
from kmix.ops.windows import window_scores
from kmix.ops.windows import window_token_mask
from tests.vectors import VECTORS
from tests.vectors import array
from tests.vectors import load

DATA = load("smmix")
ATTN = array(DATA["attention_input"]["attn_img"], np.float32)  # (4, 196)
B, G = 4, 14
FLIP = np.arange(B)[::-1].copy()


def _numpy_ref():
    spec = importlib.util.spec_from_file_location("smmix_numpy_ref", VECTORS / "smmix_numpy_ref.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _numpy_ref()


def _calls():
    calls = [(c["inputs"]["rectangle_side"], c["outputs"]) for c in DATA["direct_smmix_calls"]]
    official = DATA["official_call"]["outputs"]
    return calls + [(official["rectangle_side"], official)]


CALLS = _calls()
IDS = [f"side{s}" for s, _ in CALLS[:-1]] + ["official_call_side6"]


# ----------------------------------------------------------------------
# Ops against the official run
# ----------------------------------------------------------------------
def test_patch_attention_reduction_matches_the_official_one():
    example = DATA["reduction_example"]
    got = patch_attention(array(example["attn_full_last_block"], np.float32)).numpy()
    np.testing.assert_allclose(got, array(example["attn_img"]), atol=1e-7)


@pytest.mark.parametrize("side", [3, 7, 10])
def test_window_scores_are_the_unfold_sums(side):
    np.testing.assert_allclose(
        window_scores(ATTN, G, G, side).numpy(), REF.window_scores(ATTN.astype(np.float64), G, side), rtol=1e-5
    )


@pytest.mark.parametrize("side,outputs", CALLS, ids=IDS)
def test_window_choice_matches_the_official_run(side, outputs):
    target, source = smmix_windows(ATTN, np.full(B, side), G, G, FLIP, tuple(range(3, 11)))
    pasted = window_token_mask(target, np.full(B, side), G, G).numpy().reshape(B, -1)
    np.testing.assert_array_equal(pasted, array(outputs["source_mask_b"]))
    np.testing.assert_array_equal(1 - pasted, array(outputs["target_mask_a"]))


def test_region_pooling_matches_the_official_lines():
    features = array(DATA["region_pooling"]["inputs"]["image_token_features"], np.float32)
    outputs = DATA["official_call"]["outputs"]
    pooled = DATA["region_pooling"]["outputs"]
    np.testing.assert_allclose(region_mean(features, array(outputs["target_mask_a"])).numpy(),
                               array(pooled["pooled_target_region"]), atol=1e-6)
    np.testing.assert_allclose(region_mean(features, array(outputs["source_mask_b"])).numpy(),
                               array(pooled["pooled_source_region"]), atol=1e-6)
