"""C-Mixup's partner law against the official sampling matrices (tests/data/vectors/c_mixup.json)."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests.vectors import load

DATA = load("c_mixup")
CASES = DATA["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_probability_matrices_equal_the_official_ones(case):
    labels = np.array(case["labels"], np.float32)
    p = kmix.ops.c_mixup_probabilities(labels, bandwidth=case["bandwidth"], kernel=case["kernel"])
    np.testing.assert_allclose(p.numpy(), np.array(case["prob_matrix"]), atol=1e-6)
    # 1-D labels given as (N,) give the same matrix as (N, 1).
    if labels.shape[1] == 1:
        flat = kmix.ops.c_mixup_probabilities(labels[:, 0], bandwidth=case["bandwidth"], kernel=case["kernel"])
        np.testing.assert_allclose(flat.numpy(), p.numpy(), atol=1e-7)


def test_the_batch_level_pool_matrix_equals_the_official_one():
    pool = DATA["batch_level"]
    labels = np.array(pool["pool_labels"], np.float32)
    half = len(labels) // 2
    p = kmix.ops.c_mixup_probabilities(labels, labels, bandwidth=pool["bandwidth"])
    np.testing.assert_allclose(p.numpy(), np.array(pool["prob_matrix"]), atol=1e-6)
    anchors_only = kmix.ops.c_mixup_probabilities(labels[:half], labels, bandwidth=pool["bandwidth"])
    np.testing.assert_allclose(anchors_only.numpy(), p.numpy()[:half], atol=1e-7)


@pytest.mark.parametrize("case", [CASES[0], CASES[4], CASES[5]], ids=["1d", "2d", "tophat"])
def test_drawn_partner_frequencies_follow_the_matrix_within_a_chi_square_bound(case):
    # 4000 draws per anchor; Pearson's statistic over the candidates with
    # expected count >= 5 stays below the 0.999 quantile of chi-square with
    # (cells - 1) degrees of freedom (Wilson-Hilferty approximation); seeded,
    # so deterministic. Candidates of probability 0 are never drawn.
    labels = np.array(case["labels"], np.float32)
    n, draws = len(labels), 4000
    p = np.array(case["prob_matrix"])
    anchors = np.repeat(labels, draws, axis=0)
    partners = kmix.ops.sample_c_mixup_partners(
        anchors, labels, case["bandwidth"], tf.constant([0, 7]), kernel=case["kernel"]
    ).numpy().reshape(n, draws)
    for i in range(n):
        counts = np.bincount(partners[i], minlength=n)
        assert counts[p[i] == 0].sum() == 0
        expected = p[i] * draws
        cells = expected >= 5
        chi2 = float(((counts[cells] - expected[cells]) ** 2 / expected[cells]).sum())
        dof = max(int(cells.sum()) - 1, 1)
        bound = dof * (1 - 2 / (9 * dof) + 3.09 * np.sqrt(2 / (9 * dof))) ** 3
        assert chi2 < bound, (i, counts, expected)


def test_sampling_compiles_under_xla_and_standardising_rescales_the_bandwidth():
    labels = tf.constant([[0.0, 10.0], [1.0, 30.0], [2.0, 20.0]])
    draw = tf.function(
        lambda y, s: kmix.ops.sample_c_mixup_partners(y, y, 1.0, s), jit_compile=True
    )
    assert draw(labels, tf.constant([1, 2])).shape == (3,)
    scaled = kmix.ops.standardize_labels(labels).numpy()
    np.testing.assert_allclose(scaled.std(axis=0), 1.0, rtol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match=r"`kernel` must be one of \('gaussian', 'tophat'\). Received: kernel='box'"):
        kmix.ops.c_mixup_probabilities([0.0, 1.0], kernel="box")
    with pytest.raises(ValueError, match=r"`bandwidth` must be"):
        kmix.ops.c_mixup_probabilities([0.0, 1.0], bandwidth=0.0)
    with pytest.raises(ValueError, match=r"`anchor_labels` must be regression targets of shape \(N,\) or \(N, D\)"):
        kmix.ops.c_mixup_probabilities(np.zeros((2, 2, 2)))
