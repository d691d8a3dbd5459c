"""TokenLabelAlignment (TL-Align): every block's attention, the class token first."""

import numpy as np
import pytest
import tensorflow as tf

import kmix

B, H, P = 4, 16, 4
N = (H // P) ** 2


def test_refined_lam_is_the_ops_function_and_skips_the_class_token():
    plan = kmix.layers.CutMix(patch_size=P, lam_scope="sample").sample_plan(
        tf.zeros([B, H, H, 3]), seed=tf.constant([5, 6])
    )
    attentions = tf.nn.softmax(tf.random.stateless_normal([2, B, 1 + N, 1 + N], [7, 8]), axis=-1)
    layer = kmix.layers.TokenLabelAlignment()
    assert layer.num_patch_tokens(attentions) == N
    refined = layer.refine_lam(plan, {"attentions": attentions}).numpy()
    expected = kmix.ops.tl_align_lambda(plan.lam, kmix.ops.token_mask(plan.mask, P), attentions)
    np.testing.assert_allclose(refined, expected.numpy(), atol=1e-6)


def test_needs_every_blocks_attention():
    plan = kmix.layers.CutMix(patch_size=P).sample_plan(tf.zeros([B, H, H, 3]), seed=1)
    with pytest.raises(ValueError, match=r"TokenLabelAlignment needs the model's attention `attentions`"):
        kmix.layers.TokenLabelAlignment().refine_lam(plan, {"cls_attention": tf.zeros([B, N])})
