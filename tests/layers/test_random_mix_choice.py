"""RandomMixChoice: `num_classes` / `label_smoothing` resolved from its members, never ignored."""

import json

import keras
import numpy as np
import pytest

import kmix

L = kmix.layers
IMAGES = np.random.default_rng(0).random((6, 8, 8, 3)).astype(np.float32)
IDS = np.arange(6) % 5


def test_members_that_agree_give_num_classes_to_class_ids():
    mixer = L.RandomMixChoice([L.MixUp(num_classes=5), L.CutMix(num_classes=5)], seed=0)
    assert mixer.num_classes == 5
    _, labels = mixer(IMAGES, IDS)
    assert labels.shape == (6, 5)
    np.testing.assert_allclose(labels.numpy().sum(-1), 1.0, rtol=1e-6)
    # Equal to setting it on the container.
    reference = L.RandomMixChoice([L.MixUp(), L.CutMix()], num_classes=5, seed=0)
    np.testing.assert_array_equal(reference(IMAGES, IDS)[1].numpy(), labels.numpy())


def test_a_member_that_sets_it_and_members_that_do_not():
    mixer = L.RandomMixChoice([L.MixUp(num_classes=5), L.CutMix()])
    assert mixer.num_classes == 5


def test_members_agree_on_label_smoothing():
    mixer = L.RandomMixChoice(
        [L.MixUp(num_classes=5, label_smoothing=0.1), L.CutMix(num_classes=5, label_smoothing=0.1)],
        no_mix_probability=1.0, seed=0,
    )
    assert mixer.label_smoothing == 0.1
    _, labels = mixer(IMAGES, IDS)  # nothing mixed: the smoothed one-hots
    expected = np.full((6, 5), 0.1 / 5, np.float32)
    expected[np.arange(6), IDS] += 0.9
    np.testing.assert_allclose(labels.numpy(), expected, atol=1e-6)


def test_get_config_keeps_what_was_passed_and_round_trips():
    mixer = L.RandomMixChoice([L.MixUp(num_classes=5), L.CutMix(num_classes=5, label_smoothing=0.2)], seed=1)
    config = mixer.get_config()
    assert config["num_classes"] is None and config["label_smoothing"] == 0.0
    clone = L.RandomMixChoice.from_config(config)
    assert clone.get_config() == config
    assert clone.num_classes == 5 and clone.label_smoothing == 0.2
    json.dumps(keras.saving.serialize_keras_object(mixer))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(mixer))
    assert restored.num_classes == 5 and restored.label_smoothing == 0.2
    np.testing.assert_array_equal(clone(IMAGES, IDS)[1].numpy(), mixer(IMAGES, IDS)[1].numpy())


@pytest.mark.parametrize(
    "members, kwargs, match",
    [
        (
            lambda: [L.MixUp(num_classes=5, name="a"), L.CutMix(num_classes=10, name="b")],
            {},
            r"The members of RandomMixChoice disagree on `num_classes`: 'a' \(MixUp\) num_classes=5, "
            r"'b' \(CutMix\) num_classes=10\.",
        ),
        (
            lambda: [L.MixUp(label_smoothing=0.1, name="a"), L.CutMix(label_smoothing=0.2, name="b")],
            {},
            r"disagree on `label_smoothing`: 'a' \(MixUp\) label_smoothing=0.1, 'b' \(CutMix\) label_smoothing=0.2",
        ),
        (
            lambda: [L.MixUp(num_classes=10, name="a"), L.CutMix()],
            {"num_classes": 5},
            r"RandomMixChoice has num_classes=5 but its member 'a' \(MixUp\) has num_classes=10: "
            r"the container encodes the labels of every row, so the member's value would be silently ignored",
        ),
        (
            lambda: [L.MixUp(), L.CutMix(label_smoothing=0.3, name="b")],
            {"label_smoothing": 0.1},
            r"RandomMixChoice has label_smoothing=0.1 but its member 'b' \(CutMix\) has label_smoothing=0.3",
        ),
    ],
)
def test_conflicting_values_are_refused_at_construction(members, kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.RandomMixChoice(members(), **kwargs)


def test_the_same_value_on_the_container_and_a_member_is_fine():
    mixer = L.RandomMixChoice([L.MixUp(num_classes=5), L.CutMix()], num_classes=5)
    assert mixer.num_classes == 5 and mixer.get_config()["num_classes"] == 5


def test_a_single_layer_is_not_a_list():
    with pytest.raises(
        TypeError,
        match=r"`mixers` must be a list of kmix mixing layers, e.g\. .* Received: mixers of type MixUp",
    ):
        L.RandomMixChoice(L.MixUp())
