"""CutMix: one box per row, the plan's boxes, timm's box rules, minmax and patch-aligned boxes."""

import numpy as np
import pytest

import kmix
from tests.layers.test_errors import IMAGES
from tests.layers.test_errors import call_error

L = kmix.layers


def _rows(shape, seed=0):
    """Row i's values lie in [i, i + 1): any pixel names its source row."""
    rng = np.random.default_rng(seed)
    return (rng.random(shape) + np.arange(shape[0]).reshape(-1, 1, 1, 1)).astype(np.float32)


def _pasted_box(own):
    """`(yl, yh, xl, xh)` of the pasted pixels of one `(H, W)` own-pixel mask, None if none.

    Fails unless the pasted pixels fill exactly that one axis-aligned box.
    """
    ys, xs = np.nonzero(own < 0.5)
    if ys.size == 0:
        return None
    box = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
    expected = np.ones_like(own)
    expected[box[0] : box[1], box[2] : box[3]] = 0
    np.testing.assert_array_equal(own, expected)
    return tuple(int(v) for v in box)


def _sides(boxes):
    return boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]


@pytest.mark.parametrize("kwargs", [{}, {"minmax": (0.3, 0.7)}, {"patch_size": 4}], ids=["timm", "minmax", "patch"])
def test_the_paste_is_one_box_that_the_plan_boxes_describe(kwargs):
    b, h, w = 8, 20, 28
    images = _rows((b, h, w, 3))
    layer = L.CutMix(lam_scope="sample", seed=0, **kwargs)
    for _ in range(3):
        plan = layer.sample_plan(images)
        boxes, index = plan.boxes.numpy(), plan.index.numpy()
        assert plan.boxes.dtype == "int32" and boxes.shape == (b, 4)
        mixed = layer.mix_images(images, plan).numpy()
        for i, (yl, yh, xl, xh) in enumerate(boxes):
            assert 0 <= yl <= yh <= h and 0 <= xl <= xh <= w
            empty = yl == yh or xl == xh
            assert _pasted_box(plan.mask.numpy()[i, ..., 0]) == (None if empty else (yl, yh, xl, xh))
            expected = images[i].copy()
            expected[yl:yh, xl:xh] = images[index[i], yl:yh, xl:xh]
            np.testing.assert_array_equal(mixed[i], expected)
        heights, widths = _sides(boxes)
        np.testing.assert_allclose(plan.lam.numpy(), 1 - heights * widths / (h * w), atol=1e-6)


def test_batch_scope_pastes_one_box_for_the_batch_and_sample_scope_one_per_row():
    images = np.zeros((8, 16, 16, 1), np.float32)
    batch, sample = L.CutMix(seed=1), L.CutMix(lam_scope="sample", seed=1)
    for _ in range(3):
        boxes = batch.sample_plan(images).boxes.numpy()
        assert (boxes == boxes[0]).all()
        assert len({tuple(box) for box in sample.sample_plan(images).boxes.numpy()}) > 1


def test_unclipped_timm_boxes_are_squares_of_even_side_on_square_images():
    # timm's rand_bbox: cut = floor(side * sqrt(1 - lam)) on both axes, then
    # [centre - cut // 2, centre + cut // 2): an even side, the same on both axes.
    boxes = L.CutMix(lam_scope="sample", seed=0).sample_plan(np.zeros((64, 32, 32, 1), np.float32)).boxes.numpy()
    heights, widths = _sides(boxes)
    inside = (boxes[:, 0] > 0) & (boxes[:, 1] < 32) & (boxes[:, 2] > 0) & (boxes[:, 3] < 32)
    assert inside.sum() >= 5 and (~inside).sum() >= 5  # both kinds were drawn
    np.testing.assert_array_equal(heights[inside], widths[inside])
    assert np.all(heights[inside] % 2 == 0)
    assert len(np.unique(heights[inside])) > 3


def test_minmax_boxes_stay_inside_with_sides_drawn_between_lo_and_hi():
    h, w = 20, 30
    boxes = L.CutMix(minmax=(0.2, 0.6), lam_scope="sample", seed=0).sample_plan(
        np.zeros((64, h, w, 1), np.float32)
    ).boxes.numpy()
    heights, widths = _sides(boxes)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] <= h).all()
    assert (boxes[:, 2] >= 0).all() and (boxes[:, 3] <= w).all()
    # cut ~ U{floor(side * lo), ..., floor(side * hi) - 1}, each axis on its own.
    assert heights.min() == int(h * 0.2) and heights.max() == int(h * 0.6) - 1
    assert widths.min() == int(w * 0.2) and widths.max() == int(w * 0.6) - 1
    assert len(set(zip(heights.tolist(), widths.tolist()))) > 20
    # The origin reaches every position that keeps the box inside, both borders included.
    assert (boxes[:, 0] == 0).any() and (boxes[:, 1] == h).any()
    assert (boxes[:, 2] == 0).any() and (boxes[:, 3] == w).any()


@pytest.mark.parametrize("minmax", [None, (0.25, 0.75)])
def test_patch_size_boxes_cover_whole_patches(minmax):
    images = np.zeros((16, 16, 24, 3), np.float32)
    plan = L.CutMix(patch_size=4, minmax=minmax, lam_scope="sample", seed=2).sample_plan(images)
    boxes = plan.boxes.numpy()
    assert np.all(boxes % 4 == 0)
    heights, widths = _sides(boxes)
    assert heights.max() > 0 and len(set(widths.tolist())) > 1
    # Each 4x4 patch comes wholly from one image.
    patches = plan.mask.numpy()[..., 0].reshape(16, 4, 4, 6, 4)
    assert np.all(patches.min(axis=(2, 4)) == patches.max(axis=(2, 4)))


def test_patch_size_must_divide_the_image():
    call_error(
        L.CutMix(patch_size=3),
        IMAGES,
        match=r"With `patch_size` the image height and width must be multiples of it\. "
        r"Received: patch_size=3 and images of size 8x8",
    )
