"""MixUp: the blend and the labels follow the plan's lam; lam scopes; alpha."""

import numpy as np
import pytest

import kmix

L = kmix.layers


def test_images_and_labels_are_the_lam_blend_of_the_plan():
    rng = np.random.default_rng(0)
    images = rng.random((6, 8, 10, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 0, 1])
    kwargs = dict(alpha=1.0, lam_scope="sample", num_classes=4, seed=3)
    # A fresh layer with the same seed draws the plan that the call uses.
    plan = L.MixUp(**kwargs).sample_plan(images)
    x, y = L.MixUp(**kwargs)(images, labels)
    lam, index = plan.lam.numpy(), plan.index.numpy()
    assert plan.mask.shape == (6, 1, 1, 1) and plan.boxes is None
    np.testing.assert_array_equal(plan.mask.numpy().reshape(-1), lam)
    assert np.all(index != np.arange(6)) and 0 < lam.min() and lam.max() < 1
    w = lam[:, None, None, None]
    np.testing.assert_allclose(x.numpy(), w * images + (1 - w) * images[index], rtol=1e-6, atol=1e-6)
    onehot = np.eye(4, dtype=np.float32)[labels]
    np.testing.assert_allclose(y.numpy(), lam[:, None] * onehot + (1 - lam[:, None]) * onehot[index], atol=1e-6)


@pytest.mark.parametrize("lam_scope", ["batch", "sample"])
def test_batch_scope_draws_one_lam_and_sample_scope_one_per_row(lam_scope):
    layer = L.MixUp(alpha=1.0, lam_scope=lam_scope, seed=0)
    images = np.zeros((16, 4, 4, 1), np.float32)
    draws = []
    for _ in range(3):
        lam = layer.sample_plan(images).lam.numpy()
        assert lam.shape == (16,)
        if lam_scope == "batch":
            assert np.all(lam == lam[0])
        else:
            assert len(np.unique(lam)) == 16
        draws.append(lam[0])
    assert len(set(draws)) == 3  # a fresh lam every batch


def test_alpha_is_the_beta_concentration():
    assert L.MixUp().alpha == 0.2  # Keras and KerasCV's default
    images = np.zeros((2000, 1, 1, 1), np.float32)
    for alpha in (0.2, 4.0):
        lam = L.MixUp(alpha=alpha, lam_scope="sample", seed=0).sample_plan(images).lam.numpy()
        # Beta(a, a): mean 1/2 and variance 1 / (4 (2a + 1)).
        assert abs(lam.mean() - 0.5) < 0.05
        assert abs(lam.var() - 1 / (4 * (2 * alpha + 1))) < 0.015, (alpha, lam.var())
