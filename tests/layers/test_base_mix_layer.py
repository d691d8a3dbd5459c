"""BaseMixLayer: the public contract a new mixer is written against."""

import numpy as np
import pytest
import tensorflow as tf

import kmix


class NoMask(kmix.layers.BaseMixLayer):
    pass


class UnknownField(kmix.layers.BaseMixLayer):
    def sample_mask(self, batch_size, height, width, seed):
        return tf.ones([batch_size, 1, 1, 1]), {"offsets": tf.zeros([batch_size, 2])}


class HalfBlend(kmix.layers.BaseMixLayer):
    binary_mask = False

    def sample_mask(self, batch_size, height, width, seed):
        return tf.fill([batch_size, 1, 1, 1], 0.5)


def test_a_mixer_without_sample_mask_says_what_to_implement():
    with pytest.raises(NotImplementedError, match=r"NoMask must implement `sample_mask\(batch_size, height, width, seed\)`"):
        NoMask(num_classes=3)(np.zeros((4, 8, 8, 3), np.float32), np.arange(4) % 3)


def test_sample_mask_may_fill_only_the_plans_optional_fields():
    with pytest.raises(ValueError, match=r"UnknownField.sample_mask returned plan fields \['offsets'\]"):
        UnknownField().sample_plan(np.zeros((4, 8, 8, 3), np.float32))


def test_everything_else_is_inherited():
    layer = HalfBlend(num_classes=3, label_smoothing=0.1, seed=0)
    images = np.random.default_rng(0).random((4, 8, 8, 3)).astype(np.float32)
    mixed, labels = layer(images, np.arange(4) % 3)
    plan = HalfBlend(seed=0).sample_plan(images)
    index = plan.index.numpy()
    np.testing.assert_allclose(mixed.numpy(), 0.5 * images + 0.5 * images[index], atol=1e-6)
    smooth = np.eye(3)[np.arange(4) % 3] * 0.9 + 0.1 / 3
    np.testing.assert_allclose(labels.numpy(), 0.5 * smooth + 0.5 * smooth[index], atol=1e-6)
    assert sorted(HalfBlend.from_config(layer.get_config()).get_config()) == sorted(layer.get_config())
    assert layer.row_mixers(plan) == ([layer], None)


@pytest.mark.parametrize("scope,distinct", [("batch", 1), ("sample", 64)])
def test_sample_lam_follows_lam_scope(scope, distinct):
    layer = HalfBlend(lam_scope=scope, alpha=1.0)
    lam = layer.sample_lam(tf.constant(64), tf.constant([1, 2])).numpy()
    assert lam.shape == (64,) and len(np.unique(lam)) == distinct
    assert ((lam >= 0) & (lam <= 1)).all()


class OldStyle(kmix.layers.BaseMixLayer):
    def _sample_mask(self, batch_size, height, width, seed):
        return tf.fill([batch_size, 1, 1, 1], 0.25)


def test_the_former_private_hook_works_for_one_release_with_a_warning():
    images = np.random.default_rng(0).random((4, 8, 8, 3)).astype(np.float32)
    with pytest.warns(DeprecationWarning, match=r"OldStyle implements `_sample_mask`.*rename it `sample_mask`"):
        plan = OldStyle(seed=0).sample_plan(images)
    np.testing.assert_allclose(plan.lam.numpy(), 0.25)
