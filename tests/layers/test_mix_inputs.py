"""MixInputs: the four input forms of a mixing layer, parsed, checked and packed back."""

import numpy as np
import pytest
import tensorflow as tf

from kmix.layers.mix_inputs import MixInputs
from kmix.layers.mix_inputs import unchanged

IMAGES = np.arange(4 * 8 * 8 * 3, dtype=np.float32).reshape(4, 8, 8, 3)
LABELS = np.array([0, 1, 2, 1])
WEIGHTS = np.array([1.0, 0.5, 0.5, 1.0], np.float32)
MASKS = np.zeros((4, 8, 8, 1), np.int32)


def test_parse_reads_the_four_forms():
    data = {"images": IMAGES, "labels": LABELS, "segmentation_masks": MASKS, "extra": "kept"}
    inputs = MixInputs.parse("MixUp", data)
    assert inputs.form == "dict" and inputs.data is data
    assert inputs.images is IMAGES and inputs.labels is LABELS and inputs.segmentation_masks is MASKS
    assert MixInputs.parse("MixUp", {"images": IMAGES}).labels is None

    inputs = MixInputs.parse("MixUp", (IMAGES, LABELS))
    assert inputs.form == "tuple" and inputs.labels is LABELS and inputs.sample_weight is None
    inputs = MixInputs.parse("MixUp", [IMAGES, LABELS, WEIGHTS])
    assert inputs.form == "tuple" and inputs.images is IMAGES and inputs.sample_weight is WEIGHTS

    inputs = MixInputs.parse("MixUp", IMAGES, LABELS, WEIGHTS)
    assert inputs.form == "args" and inputs.labels is LABELS and inputs.sample_weight is WEIGHTS

    inputs = MixInputs.parse("MixUp", IMAGES)
    assert inputs.form == "images" and inputs.images is IMAGES and inputs.labels is None


@pytest.mark.parametrize(
    "args, match",
    [
        (({"images": IMAGES}, LABELS), r"^CutMix takes either a dict or \(images, labels\) as arguments, not both\. "
         r"Received: a dict and a second positional argument$"),
        (({"images": IMAGES}, None, WEIGHTS), r"^CutMix takes either a dict or \(images, labels\)"),
        (({"labels": LABELS, "x": 1},), r"^A dict input to CutMix must have an 'images' key\. Received keys: \['labels', 'x'\]$"),
        (({"images": IMAGES, "bounding_boxes": {}},), r"^`bounding_boxes` are not supported by CutMix\. MixUp, CutMix, FMix, ResizeMix, MaskMix and Mosaic mix .*"
         r"Received keys: \['bounding_boxes', 'images'\]$"),
        (((IMAGES, LABELS), LABELS), r"^CutMix takes either a tuple \(images, labels\) or images and labels as two arguments, not both\.$"),
        (((IMAGES,),), r"^A tuple input to CutMix must be \(images, labels\) or \(images, labels, sample_weight\)\. "
         r"Received: a tuple of length 1$"),
        (((IMAGES, LABELS, WEIGHTS, WEIGHTS),), r"Received: a tuple of length 4$"),
        ((IMAGES, None, WEIGHTS), r"^CutMix received `sample_weight` without labels\.$"),
    ],
)
def test_parse_refuses_bad_forms_naming_the_layer(args, match):
    with pytest.raises(ValueError, match=match):
        MixInputs.parse("CutMix", *args)


def test_check_batches_a_single_image_with_its_label_and_mask():
    inputs = MixInputs.parse("MixUp", {"images": IMAGES[0], "labels": LABELS[0], "segmentation_masks": MASKS[0]})
    assert inputs.check("channels_last") == []
    assert inputs.single
    assert inputs.images.shape == (1, 8, 8, 3) and inputs.labels.shape == (1,)
    assert inputs.segmentation_masks.shape == (1, 8, 8, 1)
    for part in (inputs.images, inputs.labels, inputs.segmentation_masks):
        assert isinstance(part, tf.Tensor)


def test_check_refuses_bad_parts():
    with pytest.raises(ValueError, match=r"`images` and `labels` must have the same batch size\. "
                       r"Received: images.shape=\(4, 8, 8, 3\) and labels.shape=\(3,\)"):
        MixInputs.parse("MixUp", IMAGES, LABELS[:3]).check("channels_last")
    with pytest.raises(TypeError, match=r"^`images` must have a real or integer dtype\. Received: images.dtype=complex64$"):
        MixInputs.parse("MixUp", IMAGES.astype(np.complex64)).check("channels_last")
    with pytest.raises(ValueError, match=r"^`segmentation_masks` must have shape \(B, H, W\) or \(B, H, W, C\)\. "
                       r"Received: segmentation_masks.shape=\(4, 8\)$"):
        MixInputs.parse("MixUp", {"images": IMAGES, "segmentation_masks": np.zeros((4, 8))}).check("channels_last")
    with pytest.raises(ValueError, match=r"^`segmentation_masks` must have the spatial size of the images \(8, 8\)\. "
                       r"Received: segmentation_masks.shape=\(4, 6, 8\) and images.shape=\(4, 8, 8, 3\)$"):
        MixInputs.parse("MixUp", {"images": IMAGES, "segmentation_masks": np.zeros((4, 6, 8))}).check("channels_last")


def test_check_reads_the_mask_sides_per_data_format():
    first = IMAGES.transpose(0, 3, 1, 2)[:, :, :, :6]  # (4, 3, 8, 6)
    # A rank-4 mask is laid out as the images; a rank-3 mask is always (B, H, W).
    MixInputs.parse("MixUp", {"images": first, "segmentation_masks": np.zeros((4, 1, 8, 6))}).check("channels_first")
    MixInputs.parse("MixUp", {"images": first, "segmentation_masks": np.zeros((4, 8, 6))}).check("channels_first")
    with pytest.raises(ValueError, match=r"spatial size of the images \(8, 6\)\. Received: segmentation_masks.shape=\(4, 8, 6, 1\)"):
        MixInputs.parse("MixUp", {"images": first, "segmentation_masks": np.zeros((4, 8, 6, 1))}).check("channels_first")


@pytest.mark.parametrize(
    "args",
    [
        ({"images": IMAGES, "labels": LABELS, "segmentation_masks": MASKS, "extra": "kept"},),
        ({"images": IMAGES[0], "labels": LABELS[0], "extra": "kept"},),
        ((IMAGES, LABELS),),
        ((IMAGES, LABELS, WEIGHTS),),
        (IMAGES, LABELS),
        (IMAGES, LABELS, WEIGHTS),
        (IMAGES,),
        (IMAGES[0],),
    ],
    ids=["dict", "dict-single", "tuple", "tuple-weights", "args", "args-weights", "images", "single-image"],
)
def test_pack_returns_the_parts_in_the_form_they_came_in(args):
    inputs = MixInputs.parse("MixUp", *args)
    inputs.check("channels_last")
    out = inputs.pack(inputs.images, inputs.labels, inputs.segmentation_masks)
    data = args[0]
    if isinstance(data, dict):
        assert isinstance(out, dict) and out is not data and set(out) == set(data)
        assert out["extra"] == "kept"
        for key in set(data) - {"extra"}:
            np.testing.assert_array_equal(out[key], data[key])
    elif isinstance(data, tuple) or len(args) > 1:
        given = data if isinstance(data, tuple) else args
        assert isinstance(out, tuple) and len(out) == len(given)
        for got, want in zip(out, given):
            np.testing.assert_array_equal(got, want)
        if len(given) == 3:
            assert out[2] is WEIGHTS  # sample weights pass through untouched
    else:
        assert out.shape == data.shape
        np.testing.assert_array_equal(out, data)


def test_pack_replaces_the_mixed_parts_and_leaves_the_input_dict_alone():
    data = {"images": IMAGES, "labels": LABELS, "extra": "kept"}
    inputs = MixInputs.parse("MixUp", data)
    inputs.check("channels_last")
    mixed, soft = tf.zeros_like(IMAGES), tf.fill([4, 3], 1 / 3)
    out = inputs.pack(mixed, soft, None)
    assert out["images"] is mixed and out["labels"] is soft and "segmentation_masks" not in out
    assert data["images"] is IMAGES and data["labels"] is LABELS


def test_unchanged_returns_the_call_arguments_as_they_came():
    data = {"images": IMAGES}
    assert unchanged(data) is data
    for args in ((IMAGES, LABELS), (IMAGES, LABELS, WEIGHTS)):
        out = unchanged(*args)
        assert isinstance(out, tuple) and len(out) == len(args)
        assert all(a is b for a, b in zip(out, args))
