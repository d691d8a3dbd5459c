"""A plan is the whole truth: `mix_images(x, sample_plan(x))` is what `layer(x)` does."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests.layers.registry import FACTORIES
from tests.layers.registry import IDS
from tests.layers.registry import K

B, H, W, C = 6, 16, 16, 3


def _smmix(**kwargs):
    return kmix.layers.SMMix(patch_size=4, switch_prob=0.7, lam_scope="sample", **kwargs)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((B, H, W, C)).astype(np.float32)
    labels = np.arange(B) % K
    attention = rng.random((B, (H // 4) * (W // 4))).astype(np.float32)
    return images, labels, attention


@pytest.mark.parametrize("make", FACTORIES + [_smmix], ids=IDS + ["SMMix"])
def test_sample_plan_then_mix_images_equals_the_call(make):
    images, labels, attention = _inputs()
    smmix = make is _smmix
    called_layer = make(num_classes=K, seed=7)
    planned_layer = make(num_classes=K, seed=7)
    for _ in range(3):  # the seed generators advance alike
        if smmix:
            out = called_layer({"images": images, "labels": labels, "attention": attention})
            plan = planned_layer.sample_plan(images, attention=attention)
        else:
            out = called_layer({"images": images, "labels": labels})
            plan = planned_layer.sample_plan(images)
        mixed = planned_layer.mix_images(images, plan)
        np.testing.assert_array_equal(mixed.numpy(), out["images"].numpy())
        expected = kmix.ops.mix_labels(labels, plan, num_classes=K)
        np.testing.assert_allclose(expected.numpy(), out["labels"].numpy(), atol=1e-6)


def test_the_plan_carries_what_a_paste_needs():
    images, _, attention = _inputs()
    cut = kmix.layers.CutMix(seed=0).sample_plan(images)
    # CutMix's boxes describe the mask (y_low, y_high, x_low, x_high).
    boxes = cut.boxes.numpy()
    inside = np.ones((B, H, W), bool)
    for i, (yl, yh, xl, xh) in enumerate(boxes):
        inside[i, yl:yh, xl:xh] = False
    np.testing.assert_array_equal(inside.astype(np.float32), cut.mask.numpy()[..., 0])
    smmix = _smmix(seed=0).sample_plan(images, attention=attention)
    assert smmix.shift.shape == (B, 2) and set(smmix.choice.numpy()) <= {0, 1}
    np.testing.assert_array_equal(smmix.shift.numpy()[smmix.choice.numpy() == 1], 0)
    mixed_choice = kmix.layers.RandomMixChoice(
        [kmix.layers.MixUp(), kmix.layers.ResizeMix()], choice_scope="sample", seed=0
    ).sample_plan(images)
    assert mixed_choice.choice.shape == (B,)
    # MixUp and hand-built plans need none of the optional fields.
    plain = kmix.layers.MixUp(seed=0).sample_plan(images)
    assert plain.boxes is None and plain.shift is None and plain.choice is None


def test_a_plan_without_the_choice_is_refused_where_it_is_needed():
    images = tf.zeros([B, H, W, C])
    layer = kmix.layers.RandomMixChoice([kmix.layers.MixUp(), kmix.layers.ResizeMix()], seed=0)
    plan = layer.sample_plan(images)._replace(choice=None)
    with pytest.raises(ValueError, match=r"needs the per-row choice to apply a plan.*choice=None"):
        layer.mix_images(images, plan)
