"""ResizeMix: the whole partner, resized into a box, checked against NumPy loops."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
import kmix.config
from kmix.layers.resize_mix import ResizeMix
from tests.ops.test_resize import _images
from tests.ops.test_resize import np_resize_bilinear
from tests.ops.test_resize import np_resize_nearest


# ----------------------------------------------------------------------
# NumPy references (loops; readable rather than fast; the resize loops are in
# tests/ops/test_resize.py)
# ----------------------------------------------------------------------
def np_paste(images, index, boxes, resize_fn=np_resize_nearest):
    """ResizeMix as openmixup writes it: img[:, :, y1:y2, x1:x2] = resize(partner)."""
    out = images.astype(np.float64 if resize_fn is np_resize_bilinear else images.dtype)
    for i, (yl, yh, xl, xh) in enumerate(boxes):
        if yh > yl and xh > xl:
            out[i, yl:yh, xl:xh] = resize_fn(images[index[i]], yh - yl, xh - xl)
    return out


def np_box(mask_row):
    """The box of the pasted pixels of one (H, W) own-pixel mask; checks it is a box."""
    ys, xs = np.nonzero(mask_row < 0.5)
    if ys.size == 0:
        return (0, 0, 0, 0)
    box = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
    expected = np.ones_like(mask_row)
    expected[box[0] : box[1], box[2] : box[3]] = 0
    np.testing.assert_array_equal(mask_row, expected)
    return box


def plan_boxes(plan):
    return np.array([np_box(m[..., 0]) for m in plan.mask.numpy()], np.int64)


# ----------------------------------------------------------------------
# The layer
# ----------------------------------------------------------------------
@pytest.mark.parametrize("lam_scope", ["batch", "sample"])
def test_layer_pastes_nearest_resized_whole_partner(lam_scope):
    images = _images((6, 13, 17, 3))
    for seed in range(3):
        layer = ResizeMix(lam_scope=lam_scope, scope=(0.3, 0.9), seed=seed)
        plan = layer.sample_plan(images)
        boxes = plan_boxes(plan)
        expected = np_paste(images, plan.index.numpy(), boxes)
        np.testing.assert_array_equal(layer.mix_images(images, plan).numpy(), expected)
        # The call draws the same plan as sample_plan on a fresh layer with this seed.
        out = ResizeMix(lam_scope=lam_scope, scope=(0.3, 0.9), seed=seed)(images)
        np.testing.assert_array_equal(out.numpy(), expected)
        if lam_scope == "batch":
            assert (boxes == boxes[0]).all()


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_plain_tensorflow_path_gives_the_same_paste(interpolation):
    images = _images((5, 12, 10, 2))
    layer = ResizeMix(interpolation=interpolation, lam_scope="sample", seed=2)
    plan = layer.sample_plan(images)
    fused = layer.mix_images(images, plan).numpy()
    kmix.config.set_fused_kernels(False)
    try:
        plain = layer.mix_images(images, plan).numpy()
    finally:
        kmix.config.set_fused_kernels(True)
    np.testing.assert_allclose(plain, fused, rtol=1e-6, atol=1e-6)
    resize_fn = np_resize_nearest if interpolation == "nearest" else np_resize_bilinear
    np.testing.assert_allclose(
        plain, np_paste(images, plan.index.numpy(), plan_boxes(plan), resize_fn), rtol=1e-5, atol=1e-5
    )


def test_plain_tensorflow_path_gives_the_same_plan():
    images = _images((4, 12, 10, 2))
    layer = ResizeMix(lam_scope="sample")
    fused = layer.sample_plan(images, seed=tf.constant([5, 6])).mask.numpy()
    kmix.config.set_fused_kernels(False)
    try:
        plain = layer.sample_plan(images, seed=tf.constant([5, 6])).mask.numpy()
    finally:
        kmix.config.set_fused_kernels(True)
    np.testing.assert_array_equal(fused, plain)


def test_lam_is_mask_mean_and_one_minus_box_area_and_labels_follow():
    images = _images((8, 20, 24, 2))
    layer = ResizeMix(lam_scope="sample", seed=4)
    for _ in range(3):
        plan = layer.sample_plan(images)
        boxes = plan_boxes(plan)
        area = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
        lam = plan.lam.numpy()
        np.testing.assert_allclose(lam, plan.mask.numpy().mean(axis=(1, 2, 3)), atol=1e-7)
        np.testing.assert_allclose(lam, 1 - area / (20 * 24), atol=1e-6)
        assert lam.min() < 1
    # Through the call: the own label weight is the share of own pixels.
    out = ResizeMix(lam_scope="sample", num_classes=8, seed=1)({"images": images, "labels": np.arange(8)})
    mixed, labels = out["images"].numpy(), out["labels"].numpy()
    own = np.floor(mixed[..., 0]) == np.arange(8)[:, None, None]
    np.testing.assert_allclose(np.diag(labels), own.mean(axis=(1, 2)), atol=1e-6)


def test_box_sizes_follow_the_scope():
    images = np.zeros((64, 64, 64, 1), np.float32)

    def interior_sides(layer, draws=3):
        sides = []
        for _ in range(draws):
            for yl, yh, xl, xh in plan_boxes(layer.sample_plan(images)):
                assert yh - yl <= 2 * (int(64 * layer.scope[1]) // 2)
                assert xh - xl <= 2 * (int(64 * layer.scope[1]) // 2)
                if yl > 0 and xl > 0 and yh < 64 and xh < 64:  # not clipped
                    assert yh - yl == xh - xl  # one tau for both axes
                # Each side that is not clipped is 2 * (floor(64 * tau) // 2).
                sides += [yh - yl] if 0 < yl and yh < 64 else []
                sides += [xh - xl] if 0 < xl and xh < 64 else []
        return np.array(sides)

    sides = interior_sides(ResizeMix(lam_scope="sample", seed=0))
    assert sides.min() >= 2 * (int(64 * 0.1) // 2) and sides.max() <= 2 * (int(64 * 0.8) // 2)
    assert np.all(sides % 2 == 0)
    # tau ~ U(0.1, 0.8): the unclipped side spreads over the whole range.
    assert sides.min() <= 10 and sides.max() >= 44 and len(np.unique(sides)) > 15
    fixed = interior_sides(ResizeMix(scope=(0.5, 0.5), lam_scope="sample", seed=0))
    assert set(fixed.tolist()) == {32}
    beta = interior_sides(ResizeMix(scope=(0.3, 0.4), use_alpha=True, alpha=0.5, lam_scope="sample", seed=0))
    assert beta.min() >= 2 * (int(64 * 0.3) // 2) and beta.max() <= 2 * (int(64 * 0.4) // 2)


def test_segmentation_masks_are_pasted_the_same_way_and_keep_dtype():
    b, h, w = 5, 12, 14
    images = _images((b, h, w, 3))
    rng = np.random.default_rng(0)
    seg_ids = rng.integers(0, 4, (b, h, w)).astype(np.int32)
    seg_onehot = np.eye(4, dtype=np.float32)[seg_ids]
    layer = ResizeMix(interpolation="bilinear", lam_scope="sample", seed=7)
    plan = ResizeMix(interpolation="bilinear", lam_scope="sample", seed=7).sample_plan(images)
    index, boxes = plan.index.numpy(), plan_boxes(plan)
    for seg in (seg_ids, seg_ids[..., None].astype(np.uint8), seg_onehot):
        layer = ResizeMix(interpolation="bilinear", lam_scope="sample", seed=7)
        out = layer({"images": images, "segmentation_masks": seg})
        assert out["segmentation_masks"].dtype == tf.as_dtype(seg.dtype)
        # Masks always use nearest, even when images are resized bilinearly.
        np.testing.assert_array_equal(out["segmentation_masks"].numpy(), np_paste(seg, index, boxes))
        np.testing.assert_allclose(
            out["images"].numpy(), np_paste(images, index, boxes, np_resize_bilinear), rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_channels_first_matches_channels_last(interpolation):
    images = _images((4, 10, 14, 3))
    seg = np.random.default_rng(2).integers(0, 3, (4, 10, 14, 2)).astype(np.int32)
    kwargs = dict(interpolation=interpolation, lam_scope="sample", seed=3)
    last = ResizeMix(**kwargs)({"images": images, "segmentation_masks": seg})
    first = ResizeMix(data_format="channels_first", **kwargs)(
        {"images": images.transpose(0, 3, 1, 2), "segmentation_masks": seg.transpose(0, 3, 1, 2)}
    )
    np.testing.assert_allclose(first["images"].numpy().transpose(0, 2, 3, 1), last["images"].numpy(), atol=1e-6)
    np.testing.assert_array_equal(
        first["segmentation_masks"].numpy().transpose(0, 2, 3, 1), last["segmentation_masks"].numpy()
    )
    assert not np.array_equal(last["images"].numpy(), images)


def test_batch_of_one_is_unchanged():
    images = _images((1, 16, 16, 3))
    x, y = ResizeMix(num_classes=3, seed=0)(images, np.array([2]))
    np.testing.assert_array_equal(x.numpy(), images)
    np.testing.assert_array_equal(y.numpy(), [[0.0, 0.0, 1.0]])


def test_compiles_under_xla_and_matches_the_reference():
    images = _images((6, 16, 12, 2))
    layer = ResizeMix(lam_scope="sample", seed=0)

    @tf.function(jit_compile=True)
    def step(x, seed):
        plan = layer.sample_plan(x, seed=seed)
        return plan.index, plan.mask, layer.mix_images(x, plan)

    index, mask, mixed = step(images, tf.constant([3, 1]))
    plan = kmix.MixPlan(index, mask, tf.reduce_mean(mask, axis=[1, 2, 3]))
    np.testing.assert_array_equal(mixed.numpy(), np_paste(images, index.numpy(), plan_boxes(plan)))
    call_layer = ResizeMix(num_classes=6, seed=1)
    x, y = tf.function(lambda x, y: call_layer(x, y), jit_compile=True)(images, np.arange(6))
    own = np.floor(x.numpy()[..., 0]) == np.arange(6)[:, None, None]
    np.testing.assert_allclose(np.diag(y.numpy()), own.mean(axis=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-6)


def test_tf_data_with_unknown_batch_size():
    images = _images((11, 16, 16, 3))
    layer = ResizeMix(lam_scope="sample", num_classes=11, seed=0)
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(11))).batch(4).map(layer)
    assert ds.element_spec[0].shape.as_list() == [None, 16, 16, 3]
    start = 0
    for x, y in ds:
        x, y = x.numpy(), y.numpy()
        rows = images[start : start + len(x)]
        for i in range(len(x)):
            source = np.floor(x[i, ..., 0]).astype(int)  # which batch row each pixel came from
            own = source == start + i
            np.testing.assert_allclose(y[i, start + i], own.mean(), atol=1e-6)
            if own.all():
                continue
            # The pasted region is a box showing one other row, resized whole.
            partner = np.unique(source[~own])
            assert len(partner) == 1
            (yl, yh, xl, xh) = np_box(own.astype(np.float32))
            expected = np_resize_nearest(images[partner[0]], yh - yl, xh - xl)
            np.testing.assert_array_equal(x[i, yl:yh, xl:xh], expected)
            np.testing.assert_array_equal(x[i][own], rows[i][own])
        start += len(x)
    assert start == 11


def test_get_config_has_every_argument_and_round_trips():
    layer = ResizeMix(alpha=0.7, scope=[0.2, 0.6], use_alpha=True, interpolation="bilinear", seed=3)
    config = layer.get_config()
    for name in ("alpha", "scope", "use_alpha", "interpolation", "num_classes", "seed"):
        assert name in config
    assert config["scope"] == (0.2, 0.6)
    clone = ResizeMix.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is ResizeMix and restored.get_config() == config


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(scope=0.5), TypeError, r"`scope` must be a pair \(lo, hi\).*Received: scope=0.5"),
        (dict(scope=(0.1, 0.5, 0.9)), TypeError, r"`scope` must be a pair.*Received: scope=\(0.1, 0.5, 0.9\)"),
        (dict(scope=("a", 0.5)), TypeError, r"`scope` must be a pair.*Received: scope=\('a', 0.5\)"),
        (dict(scope=(0.0, 0.5)), ValueError, r"0 < lo <= hi <= 1\. Received: scope=\(0.0, 0.5\)"),
        (dict(scope=(0.6, 0.5)), ValueError, r"0 < lo <= hi <= 1\. Received: scope=\(0.6, 0.5\)"),
        (dict(scope=(0.1, 1.5)), ValueError, r"Received: scope=\(0.1, 1.5\)"),
        (dict(use_alpha=1), TypeError, r"`use_alpha` must be a bool\. Received: use_alpha=1"),
        (dict(interpolation="bicubic"), ValueError, r"`interpolation` must be one of \('nearest', 'bilinear'\)\. Received: interpolation='bicubic'"),
        (dict(alpha=0.0), ValueError, r"`alpha` must be a float > 0\. Received: alpha=0.0"),
    ],
)
def test_constructor_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ResizeMix(**kwargs)
