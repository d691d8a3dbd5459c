"""FMix: exact area, smooth masks, soft edges, scopes (the Fourier field: tests/ops/test_fourier.py)."""

import numpy as np
import pytest

import kmix


@pytest.mark.parametrize("lam_scope", ["batch", "sample"])
def test_exact_area_ceil_or_floor(lam_scope):
    layer = kmix.layers.FMix(alpha=1.0, lam_scope=lam_scope, seed=3)
    images = np.random.default_rng(0).random((6, 20, 12, 3)).astype("float32")
    for _ in range(3):
        plan = layer.sample_plan(images)
        mask = plan.mask.numpy()
        assert set(np.unique(mask)) <= {0.0, 1.0}
        k = mask.sum(axis=(1, 2, 3))
        np.testing.assert_allclose(plan.lam.numpy(), k / 240.0, atol=1e-6)
        if lam_scope == "batch":  # one lambda per batch: k differs by at most the coin
            assert k.max() - k.min() <= 1
        # a mask per row, even with one lambda per batch
        assert len({m.tobytes() for m in mask}) == len(mask)


def test_masks_are_low_frequency_blobs():
    """With decay power 3 the own region is a few large blobs, not noise."""
    images = np.zeros((8, 32, 32, 3), "float32")
    smooth = kmix.layers.FMix(decay_power=3.0, seed=0).sample_plan(images).mask.numpy()[..., 0]
    rough = kmix.layers.FMix(decay_power=0.5, num_frequencies=16, seed=0).sample_plan(images).mask.numpy()[..., 0]

    def boundary(masks):
        return (np.abs(np.diff(masks, axis=1)).sum() + np.abs(np.diff(masks, axis=2)).sum()) / len(masks)

    assert boundary(smooth) < 0.5 * boundary(rough)


def test_soft_edge_keeps_the_area_and_ramps():
    layer = kmix.layers.FMix(alpha=1.0, max_soft=0.1, lam_scope="sample", seed=5)
    images = np.zeros((8, 16, 16, 3), "float32")
    plan = layer.sample_plan(images)
    mask = plan.mask.numpy()
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    soft = ((mask > 0) & (mask < 1)).sum(axis=(1, 2, 3))
    assert soft.max() > 0  # some pixels are blended
    np.testing.assert_allclose(plan.lam.numpy(), mask.mean(axis=(1, 2, 3)), atol=1e-6)


def test_reformulate_draws_beta_alpha_plus_one():
    layer = kmix.layers.FMix(alpha=1.0, reformulate=True, lam_scope="sample", seed=0)
    images = np.zeros((512, 8, 8, 1), "float32")
    lam = layer.sample_plan(images).lam.numpy()
    # Beta(2, 1) has mean 2/3 (Beta(1, 1): 1/2)
    assert abs(lam.mean() - 2 / 3) < 0.04


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"decay_power": 0}, "decay_power"),
        ({"max_soft": 0.7}, "max_soft"),
        ({"num_frequencies": 0}, "num_frequencies"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kmix.layers.FMix(**kwargs)


def test_reformulate_must_be_bool():
    with pytest.raises(TypeError, match="reformulate"):
        kmix.layers.FMix(reformulate="yes")


def test_one_mask_per_batch_is_the_official_form():
    # mask_scope="batch": one mask (one lam, one exact area) for every row, as
    # the official FMix; the default draws one per row.
    images = np.random.default_rng(1).random((5, 16, 20, 3)).astype("float32")
    layer = kmix.layers.FMix(mask_scope="batch", seed=4)
    for _ in range(3):
        plan = layer.sample_plan(images)
        mask = plan.mask.numpy()
        assert mask.shape == (5, 16, 20, 1)
        assert all(np.array_equal(m, mask[0]) for m in mask)
        assert set(np.unique(mask)) <= {0.0, 1.0}
        np.testing.assert_allclose(plan.lam.numpy(), mask[0].mean(), atol=1e-6)
    mixed = layer.mix_images(images, plan).numpy()
    own = mask[0, ..., 0] > 0.5
    partner = images[plan.index.numpy()]
    np.testing.assert_array_equal(mixed[:, own], images[:, own])
    np.testing.assert_array_equal(mixed[:, ~own], partner[:, ~own])
    config = layer.get_config()
    assert config["mask_scope"] == "batch"
    assert kmix.layers.FMix.from_config(config).mask_scope == "batch"


def test_one_mask_per_batch_needs_one_lam_per_batch():
    with pytest.raises(ValueError, match="mask_scope='batch'.*lam_scope='batch'.*Received"):
        kmix.layers.FMix(mask_scope="batch", lam_scope="sample")
    with pytest.raises(ValueError, match="mask_scope"):
        kmix.layers.FMix(mask_scope="row")


def test_one_mask_per_batch_in_tf_data_and_under_xla():
    import tensorflow as tf

    images = np.random.default_rng(2).random((7, 12, 12, 3)).astype("float32")
    layer = kmix.layers.FMix(mask_scope="batch", num_classes=3, seed=6)
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(7) % 3)).batch(4)
    for mixed, labels in ds.map(layer, num_parallel_calls=2):
        assert labels.shape[1] == 3 and np.allclose(labels.numpy().sum(1), 1.0)
    xla = tf.function(lambda x: layer.sample_plan(x).mask, jit_compile=True)
    mask = xla(tf.constant(images)).numpy()
    assert all(np.array_equal(m, mask[0]) for m in mask)
