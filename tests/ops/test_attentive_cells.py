"""Attentive CutMix's top-k cells equal OpenMixup's masks (tests/data/vectors/attentivemix.json)."""

import numpy as np
import pytest
import tensorflow as tf

import kmix.config

from kmix.ops.attentive_cells import top_k_cell_mask
from tests.vectors import load

DATA = load("attentivemix")


@pytest.mark.parametrize("fused", [True, False], ids=["xla-kernel", "plain-ops"])
def test_cells_equal_openmixups_masks(fused):
    kmix.config.set_fused_kernels(fused)
    try:
        _check_cells()
    finally:
        kmix.config.set_fused_kernels(True)


def _check_cells():
    for case in DATA["cases"]:
        features = np.transpose(np.array(case["features"], np.float32), (0, 2, 3, 1))
        size = np.array(case["images"]).shape[-1]
        cells = top_k_cell_mask(features, case["top_k"], size, size).numpy()[..., 0]
        np.testing.assert_array_equal(cells, np.array(case["mask"]))


def test_rectangular_grids_and_xla():
    fn = tf.function(lambda f: top_k_cell_mask(f, 2, 12, 18), jit_compile=True)
    features = np.zeros((1, 3, 2, 4), np.float32)
    features[0, 2, 1] = 1.0
    features[0, 0, 0] = 0.5
    cells = fn(features).numpy()[0, ..., 0]
    assert cells.shape == (12, 18) and cells.sum() == 2 * (4 * 9)
    assert cells[8:, 9:].all() and cells[:4, :9].all()


@pytest.mark.parametrize("fused", [True, False], ids=["xla-kernel", "plain-ops"])
def test_index_takes_each_rows_cells_from_its_partner(fused):
    rng = np.random.default_rng(3)
    features = rng.random((5, 4, 4, 3)).astype(np.float32)
    index = np.array([3, 0, 4, 1, 2], np.int32)
    kmix.config.set_fused_kernels(fused)
    try:
        gathered = top_k_cell_mask(features[index], 3, 16, 16).numpy()
        by_index = top_k_cell_mask(features, 3, 16, 16, index=index).numpy()
    finally:
        kmix.config.set_fused_kernels(True)
    np.testing.assert_array_equal(by_index, gathered)
    # And the partner's cells differ from the row's own (the test can fail).
    assert not np.array_equal(by_index, top_k_cell_mask(features, 3, 16, 16).numpy())


@pytest.mark.parametrize("size", [(28, 21), (32, 30)], ids=["tiling", "not-tiling"])
def test_each_pixel_takes_the_cell_of_floor_y_s_over_h(size):
    # Cells that tile the image are broadcast as blocks, others gathered: the same rule.
    height, width = size
    rng = np.random.default_rng(4)
    features = rng.random((3, 7, 3, 5)).astype(np.float32)
    cells = top_k_cell_mask(features, 4, height, width).numpy()[..., 0]
    activity = features.mean(-1).reshape(3, -1)
    chosen = np.zeros_like(activity)
    np.put_along_axis(chosen, np.argsort(-activity, axis=1, kind="stable")[:, :4], 1.0, axis=1)
    chosen = chosen.reshape(3, 7, 3)
    rows = np.arange(height) * 7 // height
    cols = np.arange(width) * 3 // width
    np.testing.assert_array_equal(cells, chosen[:, rows][:, :, cols])
