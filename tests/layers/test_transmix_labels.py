"""TransMixLabels: the cut rows' lam is TransMix's attention share; the rest keep the area."""

import numpy as np
import pytest
import tensorflow as tf

import kmix

B, H, P = 6, 16, 4


def _plan(seed=0):
    images = tf.zeros([B, H, H, 3])
    return kmix.layers.CutMix(patch_size=P, lam_scope="sample").sample_plan(images, seed=seed)


def test_refined_lam_is_the_ops_function_on_the_plans_tokens():
    plan = _plan()
    attention = tf.random.stateless_uniform([B, (H // P) ** 2], [1, 2])
    layer = kmix.layers.TransMixLabels()
    refined = layer.refine_lam(plan, {"cls_attention": attention}).numpy()
    expected = kmix.ops.transmix_lambda(plan.lam, kmix.ops.token_mask(plan.mask, P), attention)
    np.testing.assert_allclose(refined, expected.numpy(), atol=1e-6)
    # The patch size is read off the token count, or given.
    given = kmix.layers.TransMixLabels(patch_size=P).refine_lam(plan, {"cls_attention": attention})
    np.testing.assert_allclose(given.numpy(), refined, atol=1e-7)


def test_needs_the_class_attention():
    with pytest.raises(ValueError, match=r"TransMixLabels needs the model's attention `cls_attention`"):
        kmix.layers.TransMixLabels().refine_lam(_plan(), {"logits": tf.zeros([B, 3])})


def test_config_round_trips():
    layer = kmix.layers.TransMixLabels(patch_size=P, refine_mixers=["CutMix"])
    clone = kmix.layers.TransMixLabels.from_config(layer.get_config())
    assert clone.patch_size == P and clone.refine_mixers == ("CutMix",)
