"""kmix.ops.grid: MixPro's cell grid (counts, sampling, pixel and token masks) and its reference vectors."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.ops import grid
from tests import vectors

MIXPRO = vectors.load("mixpro")


# ----------------------------------------------------------------------
# Reference vectors (fistyee/MixPro utils.MaskMix, executed; see mixpro_numpy_ref.py)
# ----------------------------------------------------------------------
@pytest.mark.parametrize("case", MIXPRO["cases"], ids=[c["name"] for c in MIXPRO["cases"]])
def test_official_vectors(case):
    inputs, outputs = case["inputs"], case["outputs"]
    size, cell, patch = inputs["image_size"], inputs["mask_patch_size"], inputs["model_patch_size"]
    cells = vectors.array(outputs["mask_grid"], np.float32)
    batch = cells.shape[0]
    n_tok = size // patch

    tokens = grid.grid_to_token_mask(cells, cell, patch, size, size).numpy()
    expected_tokens = vectors.array(outputs["token_mask_a"], np.float32).reshape(batch, -1)
    np.testing.assert_array_equal(tokens, expected_tokens)

    pixels = grid.grid_to_pixel_mask(cells, cell, size, size)
    assert pixels.shape == (batch, size, size, 1)
    # The token mask of the pixel mask (TransMix's convention) is the same.
    np.testing.assert_array_equal(kmix.ops.token_mask(pixels, patch).numpy(), expected_tokens)
    assert tokens.shape == (batch, n_tok * n_tok)

    lam = kmix.ops.lam_from_mask(pixels)
    np.testing.assert_allclose(lam.numpy(), vectors.array(outputs["mask_ratio_a"]), atol=1e-6)
    plan = kmix.MixPlan(
        index=tf.constant(vectors.array(inputs["partner_index"], np.int32)), mask=pixels, lam=lam
    )
    targets = kmix.ops.mix_labels(
        vectors.array(inputs["labels"], np.int32),
        plan,
        num_classes=inputs["num_classes"],
        label_smoothing=inputs["label_smoothing"],
    )
    np.testing.assert_allclose(targets.numpy(), vectors.array(outputs["mix_targets"]), atol=1e-6)

    # The official count rule: every row keeps ceil(G^2 r) cells, the same n per batch.
    counts = cells.reshape(batch, -1).sum(1)
    assert len(set(counts.tolist())) == 1
    np.testing.assert_allclose(counts / cells[0].size, vectors.array(outputs["mask_ratio_a"]), atol=1e-6)
    # The vector was drawn right after np.random.seed(np_seed_before_MaskMix): r is the
    # first draw, Beta(1, 1) (AUG.MASKMIX_ALPHA), then one permutation of the cells per row.
    rng = np.random.RandomState(inputs["np_seed_before_MaskMix"])
    r = rng.beta(1.0, 1.0)
    n = int(np.ceil(cells[0].size * r))
    official = np.zeros((batch, cells[0].size), np.float32)
    for row in official:
        row[rng.permutation(cells[0].size)[:n]] = 1
    np.testing.assert_array_equal(official.reshape(cells.shape), cells)  # r is the right r
    np.testing.assert_array_equal(counts, n)
    kmix_counts = grid.cell_counts(np.full([batch], r, np.float32), cells[0].size).numpy()
    np.testing.assert_array_equal(kmix_counts, n)
    # Each row has its own subset of cells.
    assert len({row.tobytes() for row in cells}) > 1


# ----------------------------------------------------------------------
# The ops
# ----------------------------------------------------------------------
def test_cell_counts_round_up_and_stay_in_range():
    ratio = np.array([0.0, 1e-6, 0.25, 0.2501, 0.5, 0.99, 1.0], np.float32)
    np.testing.assert_array_equal(grid.cell_counts(ratio, 16).numpy(), [1, 1, 4, 5, 8, 16, 16])


def test_sampled_cells_have_ceil_counts_and_rows_differ():
    ratio = np.full([8], 0.4, np.float32)
    cells = grid.sample_grid_cells(ratio, 4, 4, tf.constant([1, 2])).numpy()
    assert cells.shape == (8, 4, 4)
    assert set(np.unique(cells).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(cells.reshape(8, -1).sum(1), np.ceil(16 * 0.4))
    assert len({row.tobytes() for row in cells}) > 1  # each row its own subset
    # Every cell is kept about equally often (a uniform subset per row).
    many = grid.sample_grid_cells(np.full([2000], 0.25, np.float32), 2, 3, 0).numpy()
    freq = many.mean(axis=0)
    np.testing.assert_allclose(freq, np.ceil(6 * 0.25) / 6, atol=0.05)


def test_grid_to_pixel_mask_repeats_and_crops_non_square():
    cells = np.random.default_rng(0).integers(0, 2, (3, 2, 3)).astype(np.float32)
    mask = grid.grid_to_pixel_mask(cells, 16, 24, 40).numpy()
    assert mask.shape == (3, 24, 40, 1)
    for y in range(24):
        for x in range(40):
            np.testing.assert_array_equal(mask[:, y, x, 0], cells[:, y // 16, x // 16])


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: grid.grid_to_pixel_mask(np.ones((1, 2, 2)), 16, 64, 64), ValueError,
         r"`cells` must have shape \(B, 4, 4\).*Received: cells.shape=\(1, 2, 2\)"),
        (lambda: grid.grid_to_token_mask(np.ones((1, 4, 4)), 56, 16, 224, 224), ValueError,
         r"`mask_patch_size` must be a multiple of `patch_size`.*Received: mask_patch_size=56 and patch_size=16"),
        (lambda: grid.grid_to_pixel_mask(np.ones((1, 2)), 16, 32, 32), ValueError,
         r"`cells` must have shape \(B, Gh, Gw\)\. Received: cells.shape=\(1, 2\)"),
        (lambda: grid.sample_grid_cells([0.5], 0, 2, 0), ValueError,
         r"`grid_height` must be an int >= 1\. Received: grid_height=0"),
    ],
)
def test_op_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
