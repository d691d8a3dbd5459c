"""CutMix, FMix, ResizeMix and MaskMix move detection boxes with their mask: boxes agree with the pixels.

Every box of the batch is painted before mixing as a filled rectangle in its
own channel, with the value `image + 1`; after mixing, the pixels of that
value in that channel are exactly what the mixed image shows of the box. So
each kept output box must be the tight box of those pixels (ResizeMix's
shrunk partner boxes: within the one pixel its nearest resize can move an
edge), at least `min_visibility` of the box must show, and a dropped box must
show less.
"""

import numpy as np
import pytest
import tensorflow as tf
from keras.utils import bounding_boxes as keras_boxes

import kmix
from kmix.ops import box_formats

B, H, W, N = 6, 48, 40, 3

MIXERS = {
    "CutMix": lambda **kw: kmix.layers.CutMix(lam_scope="sample", **kw),
    "FMix": lambda **kw: kmix.layers.FMix(**kw),
    "ResizeMix": lambda **kw: kmix.layers.ResizeMix(**kw),
    "MaskMix": lambda **kw: kmix.layers.MaskMix(mask_patch_size=8, patch_size=4, **kw),
}


def _painted_batch(seed=0):
    """Images `(B, H, W, N)`: box n of image i painted as `i + 1` in channel n; xyxy boxes; class ids."""
    rng = np.random.default_rng(seed)
    boxes = np.zeros((B, N, 4), np.float32)
    images = np.zeros((B, H, W, N), np.float32)
    for i in range(B):
        for n in range(N):
            w, h = rng.integers(3, 22), rng.integers(3, 26)
            x1, y1 = rng.integers(0, W - w + 1), rng.integers(0, H - h + 1)
            boxes[i, n] = [x1, y1, x1 + w, y1 + h]
            images[i, y1:y1 + h, x1:x1 + w, n] = i + 1
    labels = (np.arange(B * N).reshape(B, N) % 5).astype(np.int32)
    # One padding row (Keras pads with -1): nothing painted, stays padding.
    boxes[2, 2], labels[2, 2] = -1, -1
    images[2, ..., 2] = 0
    return images, {"boxes": boxes, "labels": labels}


def _check_boxes_follow_pixels(mixed, out, index, boxes, min_visibility, partner_tolerance=0.0):
    out_boxes, out_labels = np.asarray(out["boxes"]), np.asarray(out["labels"])
    assert out_boxes.shape == (B, 2 * N, 4) and out_labels.shape == (B, 2 * N)
    kept = dropped = 0
    for i in range(B):
        for slot in range(2 * N):
            source, n = (i, slot) if slot < N else (index[i], slot - N)
            label = boxes["labels"][source, n]
            if label == -1:
                np.testing.assert_array_equal(out_boxes[i, slot], -1)
                assert out_labels[i, slot] == -1
                continue
            shows = mixed[i, ..., n] == source + 1
            x1, y1, x2, y2 = boxes["boxes"][source, n]
            area = (x2 - x1) * (y2 - y1)
            tolerance = partner_tolerance if slot >= N else 0.0
            if out_labels[i, slot] == -1:
                dropped += 1
                np.testing.assert_array_equal(out_boxes[i, slot], -1)
                if tolerance == 0.0:
                    assert shows.sum() < min_visibility * area
                continue
            kept += 1
            assert out_labels[i, slot] == label
            rows, cols = np.nonzero(shows)
            assert rows.size, (i, slot)
            tight = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            np.testing.assert_allclose(out_boxes[i, slot], tight, atol=tolerance, err_msg=str((i, slot)))
            if tolerance == 0.0:
                assert shows.sum() >= min_visibility * area
    return kept, dropped


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_boxes_agree_with_the_mixed_pixels(name):
    images, boxes = _painted_batch()
    layer = MIXERS[name](num_classes=5, seed=3, bounding_box_format="xyxy", min_visibility=0.3)
    plan = layer.sample_plan(tf.constant(images), seed=tf.constant([5, 6]))
    mixed = layer.mix_images(tf.constant(images), plan).numpy()
    checked = kmix.ops.boxes.check_bounding_boxes(boxes, B)
    out = layer.mix_bounding_boxes(checked, plan)
    index = plan.index.numpy()
    kept, dropped = _check_boxes_follow_pixels(
        mixed, out, index, boxes, 0.3, partner_tolerance=1.0 if name == "ResizeMix" else 0.0
    )
    # The seeded case exercises both outcomes.
    assert kept >= 8 and dropped >= 2, (kept, dropped)


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_the_layer_call_moves_boxes_like_its_plan(name):
    # Through the call (dict in, dict out): same seed, same plan as sample_plan.
    images, boxes = _painted_batch(1)
    make = lambda: MIXERS[name](num_classes=5, seed=4, bounding_box_format="xyxy")  # noqa: E731
    out = make()({"images": images, "labels": boxes["labels"][:, 0], "bounding_boxes": boxes})
    layer = make()
    plan = layer.sample_plan(tf.constant(images))
    expected = layer.mix_bounding_boxes(kmix.ops.boxes.check_bounding_boxes(boxes, B), plan)
    np.testing.assert_array_equal(out["images"].numpy(), layer.mix_images(tf.constant(images), plan).numpy())
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"].numpy(), expected["boxes"].numpy())
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"].numpy(), expected["labels"].numpy())
    _check_boxes_follow_pixels(
        out["images"].numpy(), out["bounding_boxes"], plan.index.numpy(), boxes, 0.1,
        partner_tolerance=1.0 if name == "ResizeMix" else 0.0,
    )


def test_channels_first_images_move_boxes_the_same():
    images, boxes = _painted_batch(2)
    last = kmix.layers.CutMix(num_classes=5, seed=1, bounding_box_format="xyxy")
    first = kmix.layers.CutMix(num_classes=5, seed=1, bounding_box_format="xyxy", data_format="channels_first")
    a = last({"images": images, "bounding_boxes": boxes, "labels": boxes["labels"][:, 0]})
    b = first({"images": np.transpose(images, [0, 3, 1, 2]), "bounding_boxes": boxes, "labels": boxes["labels"][:, 0]})
    np.testing.assert_array_equal(a["bounding_boxes"]["boxes"].numpy(), b["bounding_boxes"]["boxes"].numpy())


@pytest.mark.parametrize("fmt", box_formats.BOX_FORMATS)
def test_every_keras_format_gives_the_same_boxes(fmt):
    # Boxes given in `fmt` (converted by Keras) come back in `fmt`, and equal
    # the xyxy run once Keras converts them back.
    images, boxes = _painted_batch(3)
    reference = kmix.layers.FMix(num_classes=5, seed=2, bounding_box_format="xyxy")(
        {"images": images, "bounding_boxes": boxes}
    )["bounding_boxes"]
    converted = np.array(keras_boxes.convert_format(boxes["boxes"], "xyxy", fmt, height=H, width=W))
    converted[boxes["labels"] == -1] = -1
    got = kmix.layers.FMix(num_classes=5, seed=2, bounding_box_format=fmt.upper())(
        {"images": images, "bounding_boxes": {"boxes": converted, "labels": boxes["labels"]}}
    )["bounding_boxes"]
    back = np.array(keras_boxes.convert_format(got["boxes"].numpy(), fmt, "xyxy", height=H, width=W))
    valid = reference["labels"].numpy() != -1
    np.testing.assert_array_equal(got["labels"].numpy(), reference["labels"].numpy())
    np.testing.assert_allclose(back[valid], reference["boxes"].numpy()[valid], atol=1e-3)
    np.testing.assert_array_equal(got["boxes"].numpy()[~valid], -1)


def test_ragged_boxes_in_a_parallel_tf_data_map():
    images, boxes = _painted_batch(4)
    lengths = [3, 1, 2, 3, 0, 2]
    ragged_boxes = tf.ragged.constant([boxes["boxes"][i, :k].tolist() for i, k in enumerate(lengths)], ragged_rank=1, dtype=tf.float32)
    ragged_labels = tf.ragged.constant([boxes["labels"][i, :k].tolist() for i, k in enumerate(lengths)], dtype=tf.int32)
    data = {"images": images, "labels": np.arange(B) % 5, "bounding_boxes": {"boxes": ragged_boxes, "labels": ragged_labels}}
    layer = kmix.layers.ResizeMix(num_classes=5, seed=0, bounding_box_format="xyxy")
    ds = tf.data.Dataset.from_tensors(data).map(layer, num_parallel_calls=4)
    (batch,) = list(ds)
    got = batch["bounding_boxes"]
    assert isinstance(got["boxes"], tf.RaggedTensor) and isinstance(got["labels"], tf.RaggedTensor)
    assert got["boxes"].shape[-1] == 4
    # The same plan on the dense (-1 padded) form, padding rows removed.
    dense = {"boxes": ragged_boxes.to_tensor(-1.0).numpy(), "labels": ragged_labels.to_tensor(-1).numpy()}
    again = kmix.layers.ResizeMix(num_classes=5, seed=0, bounding_box_format="xyxy")
    ref = tf.data.Dataset.from_tensors(dict(data, bounding_boxes=dense)).map(again)
    (ref_batch,) = list(ref)
    ref_labels = ref_batch["bounding_boxes"]["labels"].numpy()
    ref_boxes = ref_batch["bounding_boxes"]["boxes"].numpy()
    for row in range(B):
        keep = ref_labels[row] != -1
        assert got["labels"][row].numpy().tolist() == ref_labels[row][keep].tolist()
        np.testing.assert_array_equal(got["boxes"][row].numpy(), ref_boxes[row][keep])


def test_box_arguments_are_checked_and_in_the_config():
    layer = kmix.layers.MaskMix(mask_patch_size=8, patch_size=4, bounding_box_format="CENTER_XYWH", min_visibility=np.float32(0.25))
    config = layer.get_config()
    assert config["bounding_box_format"] == "center_xywh" and config["min_visibility"] == 0.25
    clone = kmix.layers.MaskMix.from_config(config)
    assert clone.bounding_box_format == "center_xywh" and clone.min_visibility == 0.25
    with pytest.raises(ValueError, match=r"CutMix's `bounding_box_format` must be one of Keras's formats .*Received: bounding_box_format='xyxyx'"):
        kmix.layers.CutMix(bounding_box_format="xyxyx")
    with pytest.raises(ValueError, match=r"`min_visibility`.*Received: min_visibility=1.5"):
        kmix.layers.FMix(min_visibility=1.5)
    images, boxes = _painted_batch()
    layer = kmix.layers.CutMix(num_classes=5, seed=0)
    with pytest.raises(ValueError, match=r"^CutMix moves bounding boxes with its mask, so it needs their format: pass `bounding_box_format=`.*Received: bounding_box_format=None$"):
        layer({"images": images, "bounding_boxes": boxes})
    # Raised before any work: the seed did not move.
    state = layer.generator.state.numpy().copy()
    with pytest.raises(ValueError):
        layer({"images": images, "bounding_boxes": boxes})
    np.testing.assert_array_equal(layer.generator.state.numpy(), state)


def test_box_formats_match_keras_converter():
    rng = np.random.default_rng(0)
    xyxy = np.sort(rng.uniform(0, 30, (5, 3, 2, 2)), axis=2)
    xyxy = np.stack([xyxy[:, :, 0, 0], xyxy[:, :, 0, 1], xyxy[:, :, 1, 0], xyxy[:, :, 1, 1]], -1).astype(np.float32)
    for fmt in box_formats.BOX_FORMATS:
        ours = box_formats.from_xyxy(xyxy, fmt, 31, 37).numpy()
        theirs = np.array(keras_boxes.convert_format(xyxy, "xyxy", fmt, height=31, width=37))
        np.testing.assert_allclose(ours, theirs, atol=1e-5, err_msg=fmt)
        np.testing.assert_allclose(box_formats.to_xyxy(theirs, fmt, 31, 37).numpy(), xyxy, atol=1e-4, err_msg=fmt)


def test_random_mix_choice_moves_each_row_as_its_member_does():
    images, boxes = _painted_batch(5)
    fmt = {"bounding_box_format": "xyxy"}
    members = [
        kmix.layers.MixUp(),
        kmix.layers.CutMix(lam_scope="sample", **fmt),
        kmix.layers.ResizeMix(lam_scope="sample", **fmt),
        kmix.layers.FMix(**fmt),
    ]
    layer = kmix.layers.RandomMixChoice(
        members, choice_scope="sample", no_mix_probability=0.25, num_classes=5, seed=1
    )
    assert layer.mixes_bounding_boxes
    plan = layer.sample_plan(tf.constant(images), seed=tf.constant([9, 2]))
    choice, index = plan.choice.numpy(), plan.index.numpy()
    assert set(choice.tolist()) == {0, 1, 2, 3, 4}, choice  # every member and an unmixed row
    out = layer.mix_bounding_boxes(kmix.ops.boxes.check_bounding_boxes(boxes, B), plan, image_size=(H, W))
    got_boxes, got_labels = out["boxes"].numpy(), out["labels"].numpy()
    for i in range(B):
        k = choice[i]
        if k == len(members):  # not mixed: own boxes, nothing gained
            np.testing.assert_array_equal(got_boxes[i, :N], boxes["boxes"][i])
            np.testing.assert_array_equal(got_labels[i, N:], -1)
            continue
        if k == 0:  # MixUp: both images' boxes, unchanged
            np.testing.assert_array_equal(got_boxes[i, N:], boxes["boxes"][index[i]])
        # The row's member, on the same plan, moves the row's boxes the same way.
        alone = members[k].mix_bounding_boxes(kmix.ops.boxes.check_bounding_boxes(boxes, B), plan, image_size=(H, W))
        np.testing.assert_array_equal(got_boxes[i], np.asarray(alone["boxes"][i], np.float32))
        np.testing.assert_array_equal(got_labels[i], alone["labels"][i])
    # Through the call, on the painted pixels: mask members' rows agree with the pixels.
    layer = kmix.layers.RandomMixChoice(
        members[1:], choice_scope="sample", num_classes=5, seed=3
    )
    called = layer({"images": images, "labels": np.arange(B) % 5, "bounding_boxes": boxes})
    again = kmix.layers.RandomMixChoice(members[1:], choice_scope="sample", num_classes=5, seed=3)
    plan = again.sample_plan(tf.constant(images))
    _check_boxes_follow_pixels(
        called["images"].numpy(), called["bounding_boxes"], plan.index.numpy(), boxes, 0.1, partner_tolerance=1.0
    )
    with pytest.raises(ValueError, match=r"`bounding_boxes` are not supported by RandomMixChoice"):
        kmix.layers.RandomMixChoice([kmix.layers.GridMix(), kmix.layers.CutMix(**fmt)], num_classes=5)(
            {"images": images, "bounding_boxes": boxes})
    with pytest.raises(ValueError, match=r"^RandomMixChoice's member CutMix moves bounding boxes with its mask, so it needs their format"):
        kmix.layers.RandomMixChoice([kmix.layers.MixUp(), kmix.layers.CutMix()], num_classes=5)(
            {"images": images, "bounding_boxes": boxes})
