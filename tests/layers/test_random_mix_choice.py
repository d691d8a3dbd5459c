"""RandomMixChoice: `weights` and `no_mix_probability` honoured; `num_classes` /
`label_smoothing` resolved from its members, never ignored."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

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


# ----------------------------------------------------------------------
# The draw: each row (or batch) is mixed by member k with probability
# (1 - no_mix_probability) * w_k / sum(w), and left unmixed otherwise.
# Statistical bound: Pearson's chi-square statistic of the observed counts
# against those probabilities stays below the 0.999 quantile of the
# chi-square distribution with (members + 1 - 1) degrees of freedom. The seed
# is fixed, so the test is deterministic. The expected statistic passes the
# bound when the no-mix probability is off by 0.03 (6000 rows) or 0.08 (600
# batches): such errors fail.
# ----------------------------------------------------------------------
CHI2_999 = {2: 13.82, 3: 16.27}
WEIGHTS = [1.0, 2.0, 3.0]
NO_MIX = 0.25


def _members():
    return [L.MixUp(alpha=1.0), L.CutMix(), L.MaskMix(mask_patch_size=4, patch_size=2)]


def _expected():
    total = sum(WEIGHTS)
    return np.array([(1 - NO_MIX) * w / total for w in WEIGHTS] + [NO_MIX])


def _chi_square(counts, probabilities):
    expected = probabilities * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def test_weights_and_no_mix_probability_per_row_within_the_bound():
    layer = L.RandomMixChoice(_members(), weights=WEIGHTS, no_mix_probability=NO_MIX,
                              choice_scope="sample", num_classes=5, seed=0)
    images = np.random.default_rng(1).random((6000, 8, 8, 3)).astype(np.float32)
    plan = layer.sample_plan(images)
    choice = plan.choice.numpy()
    counts = np.bincount(choice, minlength=4)
    assert _chi_square(counts, _expected()) < CHI2_999[3], counts
    # The pixels and labels follow the choice: unmixed rows keep their image
    # and label, MixUp rows blend uniformly, cut-and-paste rows select.
    mask = plan.mask.numpy().reshape(len(choice), -1)
    lam = plan.lam.numpy()
    np.testing.assert_array_equal(lam[choice == 3], 1.0)
    np.testing.assert_array_equal(np.ptp(mask[choice == 0], axis=1), 0.0)
    assert np.isin(mask[choice > 0], (0.0, 1.0)).all()
    mixed = layer.mix_images(images[:64], layer.sample_plan(images[:64], seed=5)).numpy()
    small = layer.sample_plan(images[:64], seed=5)
    unmixed = small.choice.numpy() == 3
    np.testing.assert_allclose(mixed[unmixed], images[:64][unmixed], atol=1e-6)


def test_weights_and_no_mix_probability_per_batch_within_the_bound():
    layer = L.RandomMixChoice(_members(), weights=WEIGHTS, no_mix_probability=NO_MIX,
                              choice_scope="batch", num_classes=5, seed=0)
    images = tf.zeros([4, 8, 8, 3])
    draw = tf.function(lambda seed: layer.sample_plan(images, seed=seed).choice)
    choices = np.array([draw(tf.constant([7, step])).numpy() for step in range(600)])
    assert (choices == choices[:, :1]).all()  # one member for the whole batch
    counts = np.bincount(choices[:, 0], minlength=4)
    assert _chi_square(counts, _expected()) < CHI2_999[3], counts


def test_the_bound_rejects_a_wrong_probability():
    # The check can fail: counts drawn with no_mix_probability 0.35 instead of 0.25.
    wrong = np.array([0.65 / 6, 0.65 * 2 / 6, 0.65 * 3 / 6, 0.35]) * 6000
    assert _chi_square(wrong, _expected()) > CHI2_999[3]


def _attentive_and_cutmix(**kw):
    teacher = keras.Sequential([keras.layers.AveragePooling2D(4)])
    return L.RandomMixChoice(
        [L.AttentiveMix(teacher=teacher, top_k=2), L.CutMix(lam_scope="sample")],
        choice_scope="sample", num_classes=5, **kw,
    )


def test_a_member_that_reads_the_images_gives_its_mask_and_partners_on_its_rows():
    from kmix.ops.seeds import split_seed

    images = np.random.default_rng(1).random((16, 8, 8, 3)).astype(np.float32)
    mixer = _attentive_and_cutmix()
    attentive, cutmix = mixer.mixers
    seed = tf.constant([3, 4], tf.int32)
    plan = mixer.sample_plan(images, seed=seed)
    seeds = split_seed(seed, 4)
    own = attentive.sample_plan(images, seed=seeds[2])
    cut = cutmix.sample_mask(16, 8, 8, seeds[3])
    cut = (cut[0] if isinstance(cut, tuple) else cut).numpy()
    choice = plan.choice.numpy()
    assert 0 < (choice == 0).sum() < 16  # both members drawn in this batch
    rows = choice == 0
    np.testing.assert_array_equal(plan.mask.numpy()[rows], own.mask.numpy()[rows])
    np.testing.assert_array_equal(plan.index.numpy()[rows], own.index.numpy()[rows])
    np.testing.assert_array_equal(plan.mask.numpy()[~rows], np.broadcast_to(cut, plan.mask.shape)[~rows])
    # The labels follow the combined plan, row by row.
    mixed, labels = mixer(images, np.arange(16) % 5)
    assert mixed.shape == images.shape and labels.shape == (16, 5)
    np.testing.assert_allclose(labels.numpy().sum(-1), 1.0, rtol=1e-6)


def test_a_member_that_reads_the_images_in_a_parallel_tf_data_map():
    images = np.random.default_rng(2).random((16, 8, 8, 3)).astype(np.float32)
    mixer = _attentive_and_cutmix(seed=0)
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(16) % 5)).batch(8)
    out = list(ds.map(mixer, num_parallel_calls=2))
    assert len(out) == 2 and out[0][1].shape == (8, 5)
    with pytest.raises(ValueError, match="draws its plan from the images"):
        mixer.sample_mask(8, 8, 8, tf.constant([0, 1]))


def test_members_a_container_cannot_label_are_refused():
    # SMMix trains with its own loss, TokenMix with a teacher takes the
    # teacher's labels: drawn by a container they would be labelled by area,
    # silently. (SnapMix, AlignMix, ... run through MixingModel's step:
    # tests/models/test_random_mix_choice_step.py.)
    with pytest.raises(TypeError, match="SMMix needs the model being trained and its own loss or teacher"):
        L.RandomMixChoice([L.MixUp(), L.SMMix(patch_size=4)])
    teacher = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 4, strides=4)])
    with pytest.raises(TypeError, match=r"TokenMix with a `teacher` takes its labels from the teacher's maps.*Received: a member TokenMix with teacher=Sequential"):
        L.RandomMixChoice([L.MixUp(), L.TokenMix(patch_size=4, teacher=teacher)])
