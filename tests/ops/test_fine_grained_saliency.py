"""fine_grained_saliency: OpenCV's StaticSaliencyFineGrained maps, byte for byte."""

import importlib.util

import numpy as np
import pytest

from kmix.ops.fine_grained_saliency import fine_grained_saliency
from kmix.ops.fine_grained_saliency import saliency_peak
from tests import vectors

DATA = vectors.load("saliencymix")


def _numpy_ref():
    spec = importlib.util.spec_from_file_location(
        "saliencymix_numpy_ref", vectors.VECTORS / "saliencymix_numpy_ref.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _numpy_ref()


def test_the_numpy_reference_reproduces_the_official_vectors():
    assert REF.main()


@pytest.mark.parametrize("case", DATA["detector"], ids=lambda c: f"{c['pixels']}-{c['images_uint8']['shape'][1:3]}")
def test_maps_and_peaks_equal_opencvs(case):
    # OpenCV 5.1.0's maps x 255 (uint8), of the normalised float32 image (the
    # official call) or of the uint8 image: equal byte for byte.
    images = vectors.array(case["images_uint8"], np.uint8)
    if case["pixels"] == "float32":
        norm = DATA["normalize"]
        images = REF.normalise(images, norm["mean"], norm["std"]).transpose(0, 2, 3, 1)
    maps = fine_grained_saliency(images.astype(np.float32), pixels=case["pixels"]).numpy()
    np.testing.assert_array_equal(np.round(maps * 255).astype(np.uint8), vectors.array(case["maps_uint8"]))
    # The official (map * 255).astype("uint8") keeps every byte (no 1/255 round-off).
    np.testing.assert_array_equal((maps * np.float32(255)).astype(np.uint8), vectors.array(case["maps_uint8"]))
    np.testing.assert_array_equal(saliency_peak(maps).numpy(), vectors.array(case["peaks"]))


@pytest.mark.parametrize("size", [(7, 9, 3), (9, 5, 1)])
def test_equal_to_the_numpy_restatement_on_odd_sizes_and_one_channel(size):
    rng = np.random.default_rng(5)
    floats = rng.normal(size=(2, *size)).astype(np.float32)
    bytes_ = rng.integers(0, 256, size=(2, *size)).astype(np.uint8)
    for images, pixels in ((floats, "float32"), (bytes_, "uint8")):
        got = np.round(fine_grained_saliency(images.astype(np.float32), pixels).numpy() * 255)
        if size[-1] == 1:
            # OpenCV copies a one-channel image as its gray image.
            expected = [_one_channel_ref(img[..., 0]) for img in images]
        else:
            expected = [REF.saliency_bytes(img) for img in images]
        np.testing.assert_array_equal(got.astype(np.uint8), np.stack(expected))


def _one_channel_ref(gray):
    # The reference reads three channels; a gray image g gives the same gray
    # through the 8-bit conversion (the weights sum to 2^15) but not through
    # the float one, so the float case restates cvtColor's identity directly.
    if gray.dtype == np.uint8:
        return REF.saliency_bytes(np.repeat(gray[..., None], 3, axis=-1))
    saved = REF._gray
    REF._gray = lambda img: img[..., 0]
    try:
        return REF.saliency_bytes(gray[..., None])
    finally:
        REF._gray = saved


def test_the_peak_is_the_first_maximum_in_row_major_order():
    maps = np.zeros((2, 3, 4), np.float32)
    maps[0, 1, 2] = maps[0, 2, 0] = 1.0
    maps[1, 2, 3] = 0.5
    np.testing.assert_array_equal(saliency_peak(maps).numpy(), [[1, 2], [2, 3]])


def test_other_channel_counts_use_the_channel_mean():
    # OpenCV leaves C not in (1, 3) undefined; kmix reads the channel mean.
    images = np.random.default_rng(2).random((2, 8, 10, 2)).astype(np.float32) * 255
    mean = images.mean(axis=-1, keepdims=True, dtype=np.float32)
    np.testing.assert_array_equal(fine_grained_saliency(images).numpy(), fine_grained_saliency(mean).numpy())
    rounded = np.round(images)
    np.testing.assert_array_equal(
        fine_grained_saliency(rounded, "uint8").numpy(),
        fine_grained_saliency(np.floor((rounded.sum(-1, keepdims=True) + 1) / 2), "uint8").numpy())


def test_a_flat_image_has_a_zero_map():
    maps = fine_grained_saliency(np.full((1, 8, 8, 3), 100.0, np.float32), "uint8").numpy()
    assert maps.max() == 0.0


def test_errors():
    with pytest.raises(ValueError, match=r"`pixels` must be one of \('float32', 'uint8', 'rescaled'\)\. Received: pixels='rgb'"):
        fine_grained_saliency(np.zeros((1, 8, 8, 3), np.float32), pixels="rgb")
    with pytest.raises(ValueError, match=r"H, W >= 2.*Received: images.shape=\(1, 1, 8, 3\)"):
        fine_grained_saliency(np.zeros((1, 1, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"Received: images.shape=\(8, 8, 3\)"):
        fine_grained_saliency(np.zeros((8, 8, 3), np.float32))


@pytest.mark.parametrize("pixels", ["float32", "uint8"])
def test_the_fused_xla_kernel_equals_opencvs(pixels):
    # Large batches run as one XLA kernel: byte for byte the same maps.
    from kmix.ops import fine_grained_saliency as fgs

    case = next(c for c in DATA["detector"] if c["pixels"] == pixels)
    images = vectors.array(case["images_uint8"], np.uint8)
    if pixels == "float32":
        norm = DATA["normalize"]
        images = REF.normalise(images, norm["mean"], norm["std"]).transpose(0, 2, 3, 1)
    images = images.astype(np.float32)
    areas = fgs._window_areas(*images.shape[1:3])
    maps = fgs._maps_xla(images, areas, pixels).numpy()
    np.testing.assert_array_equal(np.round(maps * 255).astype(np.uint8), vectors.array(case["maps_uint8"]))
