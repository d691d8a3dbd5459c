"""SaliencyMix: the official boxes, mixed images and lam given its draws."""

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.ops.fine_grained_saliency import fine_grained_saliency
from kmix.ops.fine_grained_saliency import saliency_peak
from kmix.ops.masks import box_mask
from tests import vectors

DATA = vectors.load("saliencymix")
_spec = importlib.util.spec_from_file_location(
    "saliencymix_numpy_ref", vectors.VECTORS / "saliencymix_numpy_ref.py")
REF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REF)


def _normalised(entry):
    norm = DATA["normalize"]
    nchw = REF.normalise(vectors.array(entry, np.uint8), norm["mean"], norm["std"])
    return np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("case", DATA["mix"], ids=lambda c: "x".join(map(str, c["images_uint8"]["shape"][1:3])))
def test_boxes_mixed_images_and_lam_equal_the_official_given_its_draws(case):
    images = _normalised(case["images_uint8"])
    height, width = images.shape[1:3]
    index = np.asarray(case["rand_index"], np.int32)  # torch.randperm: may hold i -> i
    layer = kmix.layers.SaliencyMix(num_classes=4, saliency_input="float32")  # the official call
    lam = np.full(len(index), case["lam_draw"], np.float32)
    boxes = layer.boxes_for(images, index, lam).numpy()
    r1, c1, r2, c2 = case["box"]  # rows bbx1:bbx2, columns bby1:bby2
    np.testing.assert_array_equal(boxes, np.tile([[r1, r2, c1, c2]], (len(index), 1)))
    np.testing.assert_array_equal(layer.saliency_peaks(images[index[:1]]).numpy(), [case["peak"]])
    mask = box_mask(boxes, height, width)
    plan = kmix.MixPlan(tf.constant(index), mask, kmix.ops.lam_from_mask(mask), boxes=tf.constant(boxes))
    mixed = layer.mix_images(images, plan).numpy()
    np.testing.assert_array_equal(mixed, _normalised(case["mixed_uint8"]))
    np.testing.assert_allclose(plan.lam.numpy(), case["lam"], atol=1e-6)


def test_batch_scope_one_box_at_the_first_partners_peak_sample_scope_one_per_row():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 16, 12, 3)).astype(np.float32)
    plan = kmix.layers.SaliencyMix(seed=0).sample_plan(images, seed=3)
    boxes, index = plan.boxes.numpy(), plan.index.numpy()
    assert (boxes == boxes[:1]).all()
    peak = saliency_peak(fine_grained_saliency(images[index[:1]], pixels="rescaled")).numpy()[0]
    # The box is centred on the peak (before clipping): [peak - cut//2, peak + cut//2).
    assert boxes[0, 0] <= peak[0] <= boxes[0, 1] and boxes[0, 2] <= peak[1] <= boxes[0, 3]
    area = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
    np.testing.assert_allclose(plan.lam.numpy(), 1 - area / (16 * 12), atol=1e-6)

    layer = kmix.layers.SaliencyMix(saliency_scope="sample", lam_scope="sample", saliency_input="uint8")
    squares = np.zeros((4, 16, 16, 3), np.float32)
    for b, (y, x) in enumerate([(2, 3), (9, 10), (5, 12), (12, 1)]):
        squares[b, y:y + 3, x:x + 3] = 255.0
    plan = layer.sample_plan(squares, seed=1)
    peaks = layer.saliency_peaks(squares).numpy()[plan.index.numpy()]
    # Each row's box surrounds its own partner's peak.
    for (y, x), (yl, yh, xl, xh) in zip(peaks, plan.boxes.numpy()):
        if yh > yl and xh > xl:
            assert yl <= y <= yh and xl <= x <= xh
    assert len({tuple(b) for b in plan.boxes.numpy()}) > 1


def test_an_xla_mixing_model_step():
    # tf.data, keras.Sequential and XLA for the default form: the registry's
    # contract tests. This fit compiles the per-row, 8-bit form in a train step.
    images = np.random.default_rng(1).random((8, 16, 16, 3)).astype(np.float32) * 255
    labels = np.arange(8) % 4
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(inputs))
    mixer = kmix.layers.SaliencyMix(
        num_classes=4, saliency_scope="sample", saliency_input="uint8", lam_scope="sample", seed=0)
    mixing = kmix.models.MixingModel(inputs, outputs, mixer=mixer)
    mixing.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), jit_compile=True)
    history = mixing.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_config_round_trip():
    layer = kmix.layers.SaliencyMix(alpha=0.5, saliency_scope="sample", saliency_input="uint8", seed=3)
    clone = kmix.layers.SaliencyMix.from_config(layer.get_config())
    assert (clone.alpha, clone.saliency_scope, clone.saliency_input, clone.seed) == (0.5, "sample", "uint8", 3)


def test_errors():
    with pytest.raises(ValueError, match=r"`saliency_scope` must be one of \('batch', 'sample'\)\. Received: saliency_scope='row'"):
        kmix.layers.SaliencyMix(saliency_scope="row")
    with pytest.raises(ValueError, match=r"`saliency_input` must be one of \('float32', 'uint8', 'rescaled'\)\. Received: saliency_input='int8'"):
        kmix.layers.SaliencyMix(saliency_input="int8")
    with pytest.raises(ValueError, match=r"static height and width >= 2 \(its saliency map\)\. Received: images of size 1x8"):
        kmix.layers.SaliencyMix(num_classes=3)(np.zeros((4, 1, 8, 3), np.float32), np.arange(4) % 3)
    with pytest.raises(ValueError, match=r"call it on the images, or use `sample_plan\(images\)`"):
        kmix.layers.SaliencyMix().sample_mask(4, 8, 8, tf.constant([1, 2]))


def test_the_default_reads_the_content_whatever_the_range_the_official_call_does_not():
    rng = np.random.default_rng(5)
    content = np.zeros((2, 16, 16, 3), np.float32)
    content[0, 3:6, 10:13] = 1.0  # a bright square on black: the salient spot
    content[1, 9:12, 2:5] = 1.0
    content += rng.uniform(0, 0.05, content.shape).astype(np.float32)
    default = kmix.layers.SaliencyMix()
    assert default.saliency_input == "rescaled"
    # The same content in [0, 1], [0, 255] or normalised: the same box centres.
    peaks = [default.saliency_peaks(scale * content + shift).numpy() for scale, shift in ((1, 0), (255, 0), (4.2, -2.1))]
    for found in peaks[1:]:
        np.testing.assert_array_equal(found, peaks[0])
    # Rescaled is the 8-bit detector on the stretched image.
    stretched = 255 * (content - content.min(axis=(1, 2, 3), keepdims=True)) / np.ptp(content, axis=(1, 2, 3), keepdims=True)
    np.testing.assert_array_equal(
        fine_grained_saliency(content, pixels="rescaled").numpy(),
        fine_grained_saliency(stretched, pixels="uint8").numpy())
    # The official call reads float bytes: scaling the image moves its map.
    official = fine_grained_saliency(content, pixels="float32").numpy()
    assert not np.array_equal(official, fine_grained_saliency(255 * content, pixels="float32").numpy())
