"""Property tests (hypothesis) over batch sizes, image sizes and alphas."""

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import kmix
from tests.hypothesis_profiles import examples
from tests.layers.registry import FACTORIES
from tests.layers.registry import IDS

SETTINGS = settings(
    max_examples=examples(12), suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _refused_size(layer, size):
    """Whether the layer refuses images of this size (a MaskMix grid of one cell)."""
    try:
        layer.check_image_size(*size)
    except ValueError:
        return True
    return False


def _own_share(mixed_row, own, partner, binary, resized_partner):
    """The measured weight of the own image `own` in `mixed_row`.

    With binary masks a pixel is the row's own when it equals it on every
    channel (this also holds when the partner is pasted resized, as in
    ResizeMix). Otherwise each pixel's weight solves
    `mixed = w * own + (1 - w) * partner` and the share is the mean weight;
    for a container that mixes blend rows and resize-paste rows, a row with
    any own pixel left untouched is a paste row.
    """
    is_own = np.all(np.isclose(mixed_row, own, atol=1e-6), axis=-1)
    if binary or (resized_partner and is_own.any() and not is_own.all()):
        return float(np.mean(is_own))
    return float(np.mean((mixed_row - partner) / (own - partner)))


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
@SETTINGS
@given(
    batch=st.integers(1, 9),
    size=st.sampled_from([(8, 8), (8, 12), (16, 16), (12, 20), (24, 16)]),
    alpha=st.sampled_from([0.2, 1.0, 3.0]),
    seed=st.integers(0, 1000),
)
def test_labels_name_at_most_two_sources_with_pixel_share_weights(make, batch, size, alpha, seed):
    layer = make(num_classes=batch, seed=seed)
    if getattr(layer, "alpha", None) is not None:
        layer.alpha = alpha
    h, w = size
    rng = np.random.default_rng(seed)
    # Rows are offset by 2 so that two sources always differ by at least 1.
    images = rng.random((batch, h, w, 2)).astype(np.float32) + 2 * np.arange(batch)[:, None, None, None]
    if _refused_size(layer, size):
        # A size on which the layer could never mix is refused, never ignored.
        with pytest.raises(ValueError, match=r"`mask_patch_size` must be smaller than the image"):
            layer({"images": images, "labels": np.arange(batch)})
        return
    out = layer({"images": images, "labels": np.arange(batch)})
    mixed, labels = out["images"].numpy(), out["labels"].numpy()

    np.testing.assert_allclose(labels.sum(-1), 1.0, rtol=1e-5)
    assert np.all(labels >= -1e-7)
    nonzero = [np.flatnonzero(row > 1e-6) for row in labels]
    assert all(1 <= len(nz) <= 2 for nz in nonzero)
    for i, nz in enumerate(nonzero):
        if len(nz) == 1:  # nothing pasted (a partner weight below 1e-6 at most)
            np.testing.assert_allclose(mixed[i], images[nz[0]], rtol=1e-6, atol=2e-6 * images.max())
            continue
        assert i in nz  # a row always keeps a share of its own label
        partner = [j for j in nz if j != i][0]
        share = _own_share(mixed[i], images[i], images[partner], layer.binary_mask, _has_resized_partner(layer))
        assert share == pytest.approx(labels[i, i], abs=1e-5)


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
@SETTINGS
@given(
    batch=st.integers(1, 9),
    size=st.sampled_from([(8, 8), (16, 16), (12, 20)]),
    seed=st.integers(0, 1000),
)
def test_plan_lam_is_the_mask_mean_and_partner_has_no_fixed_point(make, batch, size, seed):
    layer = make(seed=seed)
    images = np.zeros((batch, *size, 1), np.float32)
    if _refused_size(layer, size):
        with pytest.raises(ValueError, match=r"`mask_patch_size` must be smaller than the image"):
            layer.sample_plan(images)
        return
    plan = layer.sample_plan(images)
    mask = plan.mask.numpy()
    assert mask.min() >= 0 and mask.max() <= 1
    np.testing.assert_allclose(plan.lam.numpy(), mask.mean(axis=(1, 2, 3)), atol=1e-6)
    index = plan.index.numpy()
    assert sorted(index.tolist()) == list(range(batch))
    if batch > 1 and layer.partner == "permute":
        assert np.all(index != np.arange(batch))
    if batch == 1:
        assert plan.lam.numpy().tolist() == [1.0]


def _has_resized_partner(layer):
    members = layer.mixers if isinstance(layer, kmix.layers.RandomMixChoice) else [layer]
    return any(type(m).__name__ == "ResizeMix" for m in members)


def _needs_choice(layer):
    return isinstance(layer, kmix.layers.RandomMixChoice) and any(
        type(m).__name__ == "ResizeMix" for m in layer.mixers
    )


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
def test_injected_identity_plan_is_a_no_op(make):
    layer = make(num_classes=4)
    images = np.random.default_rng(0).random((4, 16, 16, 3)).astype(np.float32)
    plan = kmix.mix_plan.identity_plan(4, (16, 16))
    if _needs_choice(layer):
        with pytest.raises(ValueError, match=r"needs the per-row choice to apply a plan"):
            layer.mix_images(images, plan)
        return
    np.testing.assert_array_equal(layer.mix_images(images, plan).numpy(), images)
    labels = kmix.ops.mix_labels(np.arange(4), plan, num_classes=4)
    np.testing.assert_array_equal(labels.numpy(), np.eye(4, dtype=np.float32))


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
def test_injected_plan_is_applied_exactly(make):
    layer = make()
    if _needs_choice(layer):
        pytest.skip("applying a plan without the per-row choice is refused (tested above)")
    rng = np.random.default_rng(1)
    images = rng.random((3, 16, 16, 2)).astype(np.float32)
    plan = layer.sample_plan(images)
    mixed = layer.mix_images(images, plan).numpy()
    if type(layer).__name__ == "ResizeMix":
        pytest.skip("ResizeMix pastes a resized partner; tested in test_resize_mix.py")
    m = plan.mask.numpy()
    expected = m * images + (1 - m) * images[plan.index.numpy()]
    np.testing.assert_allclose(mixed, expected, rtol=1e-6, atol=1e-6)
