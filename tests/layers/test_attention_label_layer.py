"""AttentionLabelLayer: the one refinement body every label layer shares."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.layers.attention_label_layer import refined_rows

B, H, P = 6, 16, 4


class ConstantLabels(kmix.layers.AttentionLabelLayer):
    """A label layer whose refined lam is 0.25 on every refined row."""

    def attention_lambda(self, plan, token_mask, attention, outputs, targets):
        assert token_mask.shape == (B, (H // P) ** 2)
        return tf.fill([B], 0.25)


def test_a_subclass_implements_one_method_and_blend_rows_keep_the_area():
    images = tf.zeros([B, H, H, 3])
    attention = tf.ones([B, (H // P) ** 2])
    cut = kmix.layers.CutMix(patch_size=P, lam_scope="sample")
    plan = cut.sample_plan(images, seed=1)
    lam = ConstantLabels().refine_lam(plan, {"cls_attention": attention}, mixer=cut).numpy()
    np.testing.assert_array_equal(lam, 0.25)
    blend = kmix.layers.MixUp()
    blend_plan = blend.sample_plan(images, seed=1)
    kept = ConstantLabels().refine_lam(blend_plan, {"cls_attention": attention}, mixer=blend)
    np.testing.assert_array_equal(kept.numpy(), blend_plan.lam.numpy())
    # refine_mixers narrows the refined mixers by class name.
    narrowed = ConstantLabels(refine_mixers=["MaskMix"]).refine_lam(
        plan, {"cls_attention": attention}, mixer=cut
    )
    np.testing.assert_array_equal(narrowed.numpy(), plan.lam.numpy())


def test_refined_rows_follow_the_mixers_row_choice():
    mixer = kmix.layers.RandomMixChoice(
        [kmix.layers.MixUp(), kmix.layers.CutMix()], choice_scope="sample", no_mix_probability=0.2
    )
    plan = mixer.sample_plan(tf.zeros([32, H, H, 3]), seed=3)
    rows = refined_rows(plan, mixer)
    np.testing.assert_array_equal(rows.numpy(), plan.choice.numpy() == 1)


def test_refine_mixers_must_be_class_names():
    with pytest.raises(TypeError, match=r"`refine_mixers` must be None or a list of mixer class names"):
        ConstantLabels(refine_mixers="CutMix")
