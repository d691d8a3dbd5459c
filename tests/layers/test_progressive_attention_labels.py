"""ProgressiveAttentionLabels (MixPro's PAL): reads the logits and the area-mixed targets."""

import numpy as np
import pytest
import tensorflow as tf

import kmix

B, H, P, K = 6, 16, 4, 3


def _plan():
    images = tf.zeros([B, H, H, 3])
    mixer = kmix.layers.MaskMix(mask_patch_size=8, patch_size=P)
    return mixer.sample_plan(images, seed=tf.constant([3, 4]))


def _inputs():
    attention = tf.random.stateless_uniform([B, (H // P) ** 2], [1, 2])
    logits = tf.random.stateless_normal([B, K], [3, 4])
    targets = tf.one_hot(tf.range(B) % K, K)
    return attention, logits, targets


@pytest.mark.parametrize("from_logits", [True, False])
def test_refined_lam_is_the_ops_function(from_logits):
    plan = _plan()
    attention, logits, targets = _inputs()
    probabilities = tf.nn.softmax(logits)
    outputs = {"cls_attention": attention, "logits": logits if from_logits else probabilities}
    layer = kmix.layers.ProgressiveAttentionLabels(from_logits=from_logits)
    refined = layer.refine_lam(plan, outputs, targets=targets).numpy()
    expected = kmix.ops.progressive_attention_lambda(
        plan.lam, kmix.ops.token_mask(plan.mask, P), attention, targets, probabilities
    )
    np.testing.assert_allclose(refined, expected.numpy(), atol=1e-6)


def test_needs_logits_and_targets():
    attention, logits, _ = _inputs()
    with pytest.raises(ValueError, match=r"needs the model's `logits` and the area-mixed `targets`"):
        kmix.layers.ProgressiveAttentionLabels().refine_lam(
            _plan(), {"cls_attention": attention, "logits": logits}
        )
    with pytest.raises(TypeError, match=r"`from_logits` must be a bool. Received: from_logits='yes'"):
        kmix.layers.ProgressiveAttentionLabels(from_logits="yes")
