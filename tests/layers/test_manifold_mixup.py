"""ManifoldMixup and MixingPoint: hidden states mixed at one point per step, labels follow."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import step_record
from kmix.models.manifold_mixup_step import mixing_points_of
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot
from tests.models.test_mixing_model import PixelShareGap
from tests.models.test_mixing_model import colour_batch

K = 3


def _record(plan, point, points):
    return step_record.StepRecord(plan, None, K, 0.0, True, plans=[plan],
                                  mixing_point=tf.constant(point), mixing_points=points)


def test_the_chosen_point_blends_its_activations_and_the_others_pass_them_on():
    first, second = kmix.layers.MixingPoint(), kmix.layers.MixingPoint()
    h = tf.random.stateless_normal([4, 5, 6], [1, 2])
    plan = kmix.MixPlan(tf.constant([2, 3, 0, 1]), tf.ones([4, 1, 1, 1]), tf.constant([0.9, 0.6, 0.3, 0.5]))
    step_record.set_record(_record(plan, 1, [first, second]))
    try:
        blended = 0.0 + plan.lam.numpy()[:, None, None] * h.numpy()
        blended += (1 - plan.lam.numpy()[:, None, None]) * h.numpy()[plan.index.numpy()]
        np.testing.assert_allclose(first(h, training=True).numpy(), blended, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(second(h, training=True).numpy(), h.numpy())
        np.testing.assert_array_equal(first(h, training=False).numpy(), h.numpy())
    finally:
        step_record.clear_record()
    # Outside a manifold step (no record, or another mixer's step) it is the identity.
    np.testing.assert_array_equal(first(h, training=True).numpy(), h.numpy())


def _check_uniform(points, low, high, draws=3000):
    # Pearson's chi-square against the uniform law over [low, high], below its
    # 0.999 quantile (13.82 for 2 degrees of freedom, 16.27 for 3); the seeds
    # are fixed, so the test is deterministic.
    layer = kmix.layers.ManifoldMixup(include_input=low == 0)
    seeds = tf.stack([tf.fill([draws], 3), tf.range(draws)], axis=1)
    draw = tf.function(lambda s: tf.map_fn(
        lambda seed: layer.sample_point(points, seed), s, fn_output_signature=tf.int32))
    values = draw(seeds).numpy()
    assert values.min() == low and values.max() == high
    counts = np.bincount(values - low)
    expected = draws / len(counts)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < {2: 13.82, 3: 16.27}[len(counts) - 1], counts


def test_the_point_is_uniform_over_the_input_and_the_marked_layers():
    _check_uniform(3, 0, 3)
    _check_uniform(3, 1, 3)  # include_input=False: the marked layers only
    assert int(kmix.layers.ManifoldMixup().sample_point(0, tf.constant([1, 1]))) == 0


def _small_model():
    inputs = keras.Input((2, 2, 1))
    h = keras.layers.Dense(K, name="hidden")(keras.layers.Flatten()(inputs))
    logits = keras.layers.Dense(K, name="out")(h)
    return inputs, logits


def test_the_train_step_trains_on_the_blend_at_its_point_with_labels_of_the_same_plan():
    inputs, logits = _small_model()
    model = kmix.models.MixingModel(
        inputs, logits, mixer=kmix.layers.ManifoldMixup(num_classes=K, seed=0, lam_scope="sample"),
        mixing_points=["hidden"],
    )
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=kmix.losses.MixupCrossentropy())
    x = np.random.default_rng(0).random((6, 2, 2, 1)).astype(np.float32)
    y = np.arange(6) % K
    hidden, out = model.get_layer("hidden"), model.get_layer("out")
    seen = set()
    for _ in range(12):
        model.reset_metrics()  # the loss tracker averages over steps
        metrics = model.train_step((tf.constant(x), tf.constant(y)))
        record = step_record.get_record()
        plan, point = record.plan, int(record.mixing_point)
        lam, index = plan.lam.numpy(), plan.index.numpy()
        seen.add(point)
        if point == 0:
            mixed = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[index]
            z = out(hidden(mixed.reshape(6, -1))).numpy()
        else:
            h = hidden(x.reshape(6, -1)).numpy()
            z = out(lam[:, None] * h + (1 - lam[:, None]) * h[index]).numpy()
        targets = lam[:, None] * np.eye(K)[y] + (1 - lam[:, None]) * np.eye(K)[y[index]]
        log_p = z - z.max(1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
        expected = float(-(targets * log_p).sum(1).mean())
        np.testing.assert_allclose(float(metrics["loss"]), expected, rtol=1e-5)
    step_record.clear_record()
    assert seen == {0, 1}


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_labels_follow_the_pixels_at_every_point_under_fit(jit):
    # The output is the pooled colour share after a MixingPoint: whichever
    # point mixes (the input or the pooled features), the share equals the
    # labels mixed by the same plan, so the gap is zero.
    images, labels = colour_batch(16)
    inputs = keras.Input(images.shape[1:])
    shares = keras.layers.GlobalAveragePooling2D(name="shares")(inputs)
    shares = shares + 0.0 * keras.layers.Dense(images.shape[-1])(shares)
    model = kmix.models.MixingModel(
        inputs, shares, mixing_points=["shares"],
        mixer=kmix.layers.ManifoldMixup(num_classes=images.shape[-1], seed=1, lam_scope="sample"),
    )
    model.compile(optimizer="sgd", loss=PixelShareGap(), jit_compile=jit)
    history = model.fit(images, labels, batch_size=8, epochs=3, verbose=0)
    assert max(history.history["loss"]) < 1e-5


def test_a_vit_takes_points_between_blocks_and_round_trips():
    vit = kmix.models.ViT(image_size=8, patch_size=4, num_classes=K, dim=8, depth=3, num_heads=2,
                          mixing_points=[2, 1], mixer=kmix.layers.ManifoldMixup(num_classes=K, seed=0))
    points = mixing_points_of(vit)
    assert [p.name for p in points] == ["mixing_point_after_block1", "mixing_point_after_block2"]
    clone = kmix.models.ViT.from_config(vit.get_config())
    assert clone.mixing_points == (1, 2)
    # The tokens after block 1 are blended when point 1 is chosen.
    images = tf.random.stateless_uniform([4, 8, 8, 3], [1, 2])
    plan = kmix.layers.MixUp(seed=0).sample_plan(images)
    step_record.set_record(_record(plan, 1, points))
    try:
        mixed_out = vit.forward(images, training=True)["logits"]
    finally:
        step_record.clear_record()
    clean_out = vit.forward(images, training=True)["logits"]
    assert not np.allclose(mixed_out.numpy(), clean_out.numpy())


def test_errors():
    with pytest.raises(ValueError, match=r"ManifoldMixup mixes hidden states inside a model's train step"):
        kmix.layers.ManifoldMixup(num_classes=K)(np.zeros((4, 8, 8, 3), np.float32), np.arange(4) % K)
    # A container may draw it, in a MixingModel's step only (tests/models/test_random_mix_choice_step.py).
    choice = kmix.layers.RandomMixChoice([kmix.layers.ManifoldMixup(), kmix.layers.CutMix()], num_classes=K)
    with pytest.raises(ValueError, match=r"holding ManifoldMixup chooses among mixers that mix inside a model's train step"):
        choice(np.zeros((4, 8, 8, 3), np.float32), np.arange(4) % K)
    inputs, logits = _small_model()
    with pytest.raises(ValueError, match=r"`mixing_points` names layers the model does not have: \['nope'\]"):
        kmix.models.MixingModel(inputs, logits, mixer=kmix.layers.ManifoldMixup(), mixing_points=["nope"])
    with pytest.raises(ValueError, match=r"`mixing_points` must be an int in \[1, 2\]. Received: mixing_points=3"):
        kmix.models.ViT(image_size=8, patch_size=4, num_classes=K, dim=8, depth=2, num_heads=2,
                        mixing_points=[3])


def test_trains_under_mirrored_strategy_each_replica_drawing_its_own_point(two_cpus):
    images, labels = colour_batch(16)
    with two_cpus.scope():
        inputs = keras.Input(images.shape[1:])
        hidden = keras.layers.Dense(4, name="hidden")(keras.layers.GlobalAveragePooling2D()(inputs))
        model = kmix.models.MixingModel(
            inputs, keras.layers.Dense(images.shape[-1])(hidden), mixing_points=["hidden"],
            mixer=kmix.layers.ManifoldMixup(num_classes=images.shape[-1], seed=0),
        )
        model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    before = trainable_snapshot(model)
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert_replicas_in_sync(two_cpus, model, before)

    @tf.function(autograph=False)
    def points_of_one_step(x, y):
        def replica_step(x, y):
            model.train_step((x, y))
            record = step_record.get_record()
            return tf.stack([tf.cast(record.mixing_point, tf.float32), record.plan.lam[0]])

        return two_cpus.run(replica_step, args=(x, y))

    per_replica = [v.numpy() for v in two_cpus.experimental_local_results(
        points_of_one_step(tf.constant(images[:8]), tf.constant(labels[:8])))]
    assert not np.array_equal(per_replica[0], per_replica[1]), per_replica


def test_the_blend_and_labels_equal_the_official_mixing_step_given_its_draws():
    # tests/data/vectors/manifold_mixup.json: the official mixup_process run on
    # seeded hidden states (rank 4 and rank 2), with its lam and permutation.
    from tests.vectors import load

    data = load("manifold_mixup")
    point = kmix.layers.MixingPoint()
    for case in data["cases"]:
        hidden = tf.constant(case["hidden"], tf.float32)
        batch = hidden.shape[0]
        lam = tf.fill([batch], tf.constant(case["lam"], tf.float32))
        plan = kmix.MixPlan(tf.constant(case["indices"], tf.int32), tf.reshape(lam, [-1, 1, 1, 1]), lam)
        step_record.set_record(_record(plan, 1, [point]))
        try:
            mixed = point(hidden, training=True).numpy()
        finally:
            step_record.clear_record()
        np.testing.assert_allclose(mixed, np.array(case["mixed_hidden"]), atol=1e-6)
        targets = kmix.ops.mix_labels(np.array(case["labels"]), plan, num_classes=4).numpy()
        np.testing.assert_allclose(targets, np.array(case["mixed_target"]), atol=1e-6)
    # The official point draw is uniform over the input and two hidden points,
    # as ManifoldMixup.sample_point is (0.999 chi-square quantile, 2 dof).
    counts = np.array(data["layer_mix_counts"], np.float64)
    assert float(((counts - counts.sum() / 3) ** 2 / (counts.sum() / 3)).sum()) < 13.82
