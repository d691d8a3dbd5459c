"""RandomMixChoice over in-graph mixers: one member per batch, each through its own step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import step_record
from kmix.models.mixing_mixin import step_strategy_for
from kmix.models.random_mix_choice_step import RandomMixChoiceStep
from kmix.ops.mixing import mix_soft_labels
from kmix.ops.mixing import one_hot_labels
from kmix.ops.seeds import split_seed
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot

L = kmix.layers
K = 3
EPS = 0.1


def _model(mixer):
    inputs = keras.Input((8, 8, 3))
    stage = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="stage")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(stage)
    logits = keras.layers.Dense(K, name="head")(pooled)
    return kmix.models.MixingModel(inputs, logits, mixer=mixer, mixing_points=["stage"])


def _data(batch=6, seed=0, tensors=False):
    rng = np.random.default_rng(seed)
    images, labels = rng.random((batch, 8, 8, 3)).astype(np.float32), np.arange(batch) % K
    return (tf.constant(images), tf.constant(labels)) if tensors else (images, labels)


MEMBERS = {
    "SnapMix": lambda **kw: L.SnapMix(**kw),
    "AlignMix": lambda **kw: L.AlignMix(input_mixup_probability=0.0, **kw),
    "ManifoldMixup": lambda **kw: L.ManifoldMixup(include_input=False, **kw),
    "GuidedMixup": lambda **kw: L.GuidedMixup(saliency="gradient", **kw),
}


@pytest.fixture(scope="module")
def shared_model():
    """One model (weights fixed) whose steps the tests run by hand, eagerly."""
    model = _model(L.RandomMixChoice([L.MixUp(), L.SnapMix()], num_classes=K))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    return model


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_a_drawn_in_graph_member_runs_its_own_step(shared_model, name):
    # Weights [0, 1]: every batch draws the member; the container's step then
    # gives the very inputs, targets and forward pass of the member's own step
    # (with the member's share of the step seed), labels smoothed once.
    images, labels = _data(tensors=True)
    container = L.RandomMixChoice(
        [L.MixUp(), MEMBERS[name]()], weights=[0, 1], num_classes=K, label_smoothing=EPS,
    )
    alone = MEMBERS[name](num_classes=K, label_smoothing=EPS)
    seed = tf.constant([4, 7])
    step = RandomMixChoiceStep(shared_model, container)
    step.check()
    x_c, t_c = step.mix(images, labels, seed)
    record = step_record.get_record()
    np.testing.assert_array_equal(record.plan.choice.numpy(), np.ones(6))
    np.testing.assert_array_equal(record.plan.lam.numpy(), np.ones(6))  # the loss reads t_c
    out_c = step.forward(x_c).numpy()

    own = step_strategy_for(alone)(shared_model, alone)
    x_a, t_a = own.mix(images, labels, split_seed(seed, 2)[1])
    plan = step_record.get_record().plans[0]
    out_a = own.forward(x_a).numpy()
    if not own.targets_are_final:
        t_a = mix_soft_labels(one_hot_labels(labels, K, EPS), plan)
    np.testing.assert_allclose(x_c.numpy(), x_a.numpy(), atol=1e-6)
    np.testing.assert_allclose(t_c.numpy(), t_a.numpy(), atol=1e-6)
    np.testing.assert_allclose(out_c, out_a, atol=1e-5)
    if name != "SnapMix":
        # A real mix: targets are not the one-hot labels, hidden mixing changed the logits.
        assert not np.allclose(t_c.numpy(), one_hot_labels(labels, K, EPS).numpy())
    if name in ("AlignMix", "ManifoldMixup"):
        np.testing.assert_array_equal(x_c.numpy(), images)  # mixed at the MixingPoint
        assert not np.allclose(out_c, shared_model(images, training=False).numpy(), atol=1e-4)


def test_input_members_and_no_mix_branches_and_the_shared_member_draw(shared_model):
    images, labels = _data(tensors=True)
    container = L.RandomMixChoice(
        [L.CutMix(), L.SnapMix()], weights=[1, 0], num_classes=K, label_smoothing=EPS, seed=1,
    )
    step = RandomMixChoiceStep(shared_model, container)
    seed = tf.constant([2, 9])
    x_c, t_c = step.mix(images, labels, seed)
    # An input member: the container's plan of that member alone (its partner).
    plan = container.member_plan(0, images, seed=split_seed(seed, 2)[0], labels=one_hot_labels(labels, K))
    np.testing.assert_allclose(x_c.numpy(), container.mix_images(images, plan).numpy())
    np.testing.assert_allclose(
        t_c.numpy(), mix_soft_labels(one_hot_labels(labels, K, EPS), plan).numpy(), atol=1e-6,
    )
    assert not np.array_equal(x_c.numpy(), images)
    # The member is drawn from the shared seed: the same on every replica, whose
    # own seeds differ (different mixes of the same batch).
    container = L.RandomMixChoice([L.CutMix(), L.SnapMix()], num_classes=K)
    step = RandomMixChoiceStep(shared_model, container)
    for shared in range(6):
        step.shared_seed = tf.constant([shared, 3])
        x0, _ = step.mix(images, labels, tf.constant([0, 1]))
        c0 = step_record.get_record().plan.choice.numpy()
        x1, _ = step.mix(images, labels, tf.constant([5, 6]))
        c1 = step_record.get_record().plan.choice.numpy()
        np.testing.assert_array_equal(c0, c1)
        assert not np.array_equal(x0.numpy(), x1.numpy())
    # No mix: the clean batch, smoothed one-hot targets.
    container = L.RandomMixChoice([L.SnapMix()], no_mix_probability=1.0, num_classes=K, label_smoothing=EPS)
    step = RandomMixChoiceStep(shared_model, container)
    x_c, t_c = step.mix(images, labels, seed)
    np.testing.assert_array_equal(x_c.numpy(), images)
    np.testing.assert_allclose(t_c.numpy(), one_hot_labels(labels, K, EPS).numpy(), atol=1e-7)
    np.testing.assert_array_equal(step_record.get_record().plan.choice.numpy(), np.ones(6))


def test_sample_choice_follows_the_weights():
    container = L.RandomMixChoice([L.MixUp(), L.CutMix(), L.SnapMix()], weights=[1, 2, 1],
                                  no_mix_probability=0.2)
    draws = container.sample_choice(20000, tf.constant([1, 2])).numpy()
    freq = np.bincount(draws, minlength=4) / draws.size
    # 0.2, 0.4, 0.2 and 0.2; 4 standard errors (0.0028 each) at most.
    np.testing.assert_allclose(freq, [0.2, 0.4, 0.2, 0.2], atol=0.012)


class _ChoiceProbe(kmix.losses.MixupCrossentropy):
    """MixupCrossentropy that notes, per call, the member drawn and the targets' checksum."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def call(self, y_true, y_pred):
        record = self.step_record()
        if record is not None and record.training:
            # Squares: a permutation of the rows with one lam keeps a linear sum.
            weights = tf.cast(tf.range(tf.size(y_true)), tf.float32)
            checksum = tf.reduce_sum(tf.square(tf.reshape(y_true, [-1])) * weights)
            tf.py_function(
                lambda c, s: self.seen.append((int(c), float(s))),
                [record.plan.choice[0], checksum], [],
            )
        return super().call(y_true, y_pred)


def test_an_xla_fit_over_every_in_graph_member_saves_and_reloads(tmp_path):
    images, labels = _data(24, seed=1)
    mixer = L.RandomMixChoice(
        # ManifoldMixup's branch is AlignMix's hidden path with a plain blend (checked eagerly above).
        [L.CutMix(), L.SnapMix(), L.AlignMix(), L.GuidedMixup(saliency="gradient")],
        num_classes=K, label_smoothing=EPS, no_mix_probability=0.1, seed=3,
    )
    model = _model(mixer)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=kmix.losses.MixupCrossentropy(),
                  metrics=["accuracy"], jit_compile=True)
    before = trainable_snapshot(model)
    history = model.fit(images, labels, batch_size=6, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.array_equal(a, b) for a, b in zip(before, trainable_snapshot(model)))
    path = str(tmp_path / "choice.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(m).__name__ for m in loaded.mixer.mixers] == [type(m).__name__ for m in mixer.mixers]
    assert loaded.mixer.get_config() == mixer.get_config()
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


@pytest.mark.slow
def test_mirrored_replicas_draw_one_member_and_mix_their_own_batches(two_cpus):
    images, labels = _data(6, seed=2)
    probe = _ChoiceProbe()
    with two_cpus.scope():
        model = _model(L.RandomMixChoice([L.CutMix(), L.SnapMix(), L.AlignMix()], num_classes=K, seed=4))
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=probe)
    before = trainable_snapshot(model)
    # Both replicas get the same 6 images in every step.
    history = model.fit(np.concatenate([images, images] * 4), np.concatenate([labels, labels] * 4),
                        batch_size=12, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert_replicas_in_sync(two_cpus, model, before)
    steps = [probe.seen[i:i + 2] for i in range(0, len(probe.seen), 2)]
    assert len(steps) == 4
    for (c0, s0), (c1, s1) in steps:
        assert c0 == c1  # one member per step on every replica
        assert s0 != s1  # each replica's own plan


def test_errors():
    with pytest.raises(ValueError, match=r'chooses an in-graph member \(SnapMix.*once per batch.*choice_scope="batch".*Received: choice_scope=\'sample\''):
        L.RandomMixChoice([L.MixUp(), L.SnapMix()], choice_scope="sample")
    container = L.RandomMixChoice([L.MixUp(), L.AlignMix()], num_classes=K)
    images, labels = _data()
    with pytest.raises(ValueError, match=r"holding AlignMix chooses among mixers that mix inside a model's train step.*kmix.models.MixingModel"):
        container(images, labels)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(6)
    with pytest.raises(ValueError, match=r"holding AlignMix"):
        ds.map(container)
    with pytest.raises(ValueError, match=r"Member 1 \(AlignMix\) mixes inside a model's train step"):
        container.member_plan(1, images)
    with pytest.raises(ValueError, match=r"`k` must be a member position, an int in \[0, 1\]. Received: k=2"):
        container.member_plan(2, images)
    for loss in (kmix.losses.DecoupledMixupLoss(), kmix.losses.RankMixupLoss()):
        for mixer in (L.RandomMixChoice([L.CutMix(), L.SnapMix()], num_classes=K), L.SnapMix(num_classes=K)):
            model = _model(mixer)
            model.compile(optimizer="sgd", loss=loss)
            with pytest.raises(ValueError, match=rf"losses that read labels only.*Received: loss={type(loss).__name__}"):
                model.fit(images, labels, epochs=1, verbose=0)
