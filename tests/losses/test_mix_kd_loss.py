"""MixKDLoss and the teacher of a MixingModel, against the official MIX-KD numbers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.losses.mix_kd_loss import mix_kd_terms
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot
from tests.losses import helpers
from tests.vectors import load

DATA = load("mixkd")


def _case():
    zs = np.array(DATA["student_logits"], np.float32)
    zt = np.array(DATA["teacher_logits"], np.float32)
    lam = np.array(DATA["lam"], np.float32)
    labels, rp1, rp2 = np.array(DATA["labels"]), np.array(DATA["rp1"]), np.array(DATA["rp2"])
    eye = np.eye(DATA["C"], dtype=np.float32)
    targets = lam[:, None] * eye[labels[rp1]] + (1 - lam[:, None]) * eye[labels[rp2]]
    return zs, zt, targets, lam, labels, rp1, rp2


def test_the_terms_equal_the_official_mixstd_and_hinton_numbers():
    zs, zt, targets, *_ = _case()
    np.testing.assert_allclose(targets, np.array(DATA["mixed_target"]), atol=1e-6)
    cls, kd = mix_kd_terms(zs, zt, targets, DATA["gamma"], DATA["alpha"])
    np.testing.assert_allclose(float(tf.reduce_mean(cls)), DATA["loss_cls"], rtol=1e-5)
    np.testing.assert_allclose(float(tf.reduce_mean(kd)), DATA["loss_kd"], rtol=1e-5)
    _, kd_hinton = mix_kd_terms(zs, zt, targets, 0.0, 1.0, mode="hinton", temperature=4.0)
    np.testing.assert_allclose(float(tf.reduce_mean(kd_hinton)), DATA["distill_kl_T4"], rtol=1e-5)


def test_the_loss_reads_the_plan_and_the_teacher_logits_of_the_step():
    # The official pair (rp1, rp2) is row i = a_i x[rp1_i] + (1 - a_i) x[rp2_i];
    # with own row rp1_i and partner rp2_i it is a kmix plan on the batch
    # reordered by rp1 (labels[rp1] as the own labels, partner index
    # rp1^-1(rp2_i)).
    zs, zt, targets, lam, labels, rp1, rp2 = _case()
    inverse = np.argsort(rp1)
    plan = kmix.MixPlan(tf.constant(inverse[rp2], tf.int32), tf.reshape(tf.constant(lam), [-1, 1, 1, 1]),
                        tf.constant(lam))
    with helpers.step(plan, num_classes=DATA["C"], teacher_logits=tf.constant(zt)):
        loss = kmix.losses.MixKDLoss()(tf.constant(labels[rp1]), tf.constant(zs))
    np.testing.assert_allclose(float(loss), DATA["loss_total"], rtol=1e-5)
    with helpers.step(plan, num_classes=DATA["C"]):
        with pytest.raises(ValueError, match=r"MixKDLoss distils from a teacher .* without teacher logits"):
            kmix.losses.MixKDLoss()(tf.constant(labels[rp1]), tf.constant(zs))


def _net(width, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    return inputs, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))


def test_the_teacher_sees_exactly_the_students_mixed_images_under_xla():
    # A student that is a frozen copy of the teacher gives a zero KL term only
    # if both saw the same images; the CE term is then the whole loss.
    teacher = keras.Model(*_net(6, 0))
    inputs, outputs = _net(6, 0)
    student = kmix.models.MixingModel(inputs, outputs, teacher=teacher,
                                      mixer=kmix.layers.MixKDMix(num_classes=4, seed=0))
    for mine, theirs in zip(student.layers, teacher.layers):
        mine.set_weights(theirs.get_weights())
        mine.trainable = False
    kd_only = kmix.losses.MixKDLoss(gamma=0.0, alpha=1.0)
    student.compile(optimizer="sgd", loss=kd_only, jit_compile=True)
    x, y = helpers.tiny_data(16)
    history = student.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert max(history.history["loss"]) < 1e-6
    # A different teacher gives a positive KL: the term is really computed.
    student.set_teacher(keras.Model(*_net(6, 1)))
    student.compile(optimizer="sgd", loss=kd_only, jit_compile=True)
    assert student.fit(x, y, batch_size=8, verbose=0).history["loss"][0] > 1e-4


def test_the_teacher_is_frozen_saved_or_referenced_and_absent_in_evaluation(tmp_path):
    teacher = keras.Model(*_net(6, 0))
    start = [w.copy() for w in teacher.get_weights()]
    inputs, outputs = _net(3, 1)
    model = kmix.models.MixingModel(inputs, outputs, teacher=teacher,
                                    mixer=kmix.layers.MixKDMix(num_classes=4, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.MixKDLoss())
    x, y = helpers.tiny_data(16)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(teacher.get_weights(), start):
        np.testing.assert_array_equal(a, b)
    assert not teacher.trainable and not any(w is t for w in model.trainable_weights for t in teacher.weights)
    # Evaluation: the plain cross-entropy of the clean labels (no teacher).
    logits = model.predict(x, verbose=0)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), float(expected), rtol=1e-5)
    # Saved with the model (default) ...
    path = tmp_path / "saved.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(loaded.teacher.get_weights(), teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    # ... or only referenced.
    referenced = kmix.models.MixingModel(*_net(3, 1), teacher=teacher, save_teacher=False,
                                         mixer=kmix.layers.MixKDMix(num_classes=4, seed=0))
    referenced.save(tmp_path / "referenced.keras")
    assert keras.saving.load_model(tmp_path / "referenced.keras").teacher is None
    assert len(referenced.weights) == len(keras.Model(*_net(3, 1)).weights)


def test_trains_under_mirrored_strategy(two_cpus):
    with two_cpus.scope():
        teacher = keras.Model(*_net(6, 0))
        inputs, outputs = _net(3, 1)
        model = kmix.models.MixingModel(inputs, outputs, teacher=teacher,
                                        mixer=kmix.layers.MixKDMix(num_classes=4, seed=0))
        model.compile(optimizer="sgd", loss=kmix.losses.MixKDLoss())
    x, y = helpers.tiny_data(16)
    before = trainable_snapshot(model)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert_replicas_in_sync(two_cpus, model, before)


def test_errors():
    with pytest.raises(ValueError, match=r"`mode` must be one of \('mixstd', 'hinton'\)"):
        kmix.losses.MixKDLoss(mode="soft")
    with pytest.raises(TypeError, match=r"`teacher` must be a Keras model"):
        kmix.models.MixingModel(*_net(3, 1), mixer=kmix.layers.MixUp(), teacher="resnet")
