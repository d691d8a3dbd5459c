"""AlignMixStep: MixingModel trains on the official AlignMix (images, or aligned last-stage maps)."""

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import step_record
from tests.distributed_checks import assert_replicas_in_sync
from tests.distributed_checks import trainable_snapshot
from tests.vectors import VECTORS

K = 3


def _numpy_ref():
    spec = importlib.util.spec_from_file_location("alignmix_numpy_ref", VECTORS / "alignmix_numpy_ref.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _numpy_ref()


def _model(mixer, points=("stage",)):
    inputs = keras.Input((8, 8, 3))
    stage = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="stage")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(stage)
    logits = keras.layers.Dense(K, name="head")(pooled)
    return kmix.models.MixingModel(inputs, logits, mixer=mixer, mixing_points=list(points))


def _cross_entropy(logits, targets):
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    return float(-(targets * log_p).sum(1).mean())


class _PlanRecorder(kmix.losses.MixupCrossentropy):
    """MixupCrossentropy that also copies the step's plan into variables (read after each batch)."""

    def __init__(self, batch):
        super().__init__()
        self.index = tf.Variable(tf.zeros([batch], tf.int32), trainable=False)
        self.lam = tf.Variable(tf.zeros([batch]), trainable=False)
        self.choice = tf.Variable(tf.zeros([batch], tf.int32), trainable=False)

    def call(self, y_true, y_pred):
        plan = self.step_record().plan
        with tf.control_dependencies([
            self.index.assign(plan.index), self.lam.assign(plan.lam), self.choice.assign(plan.choice),
        ]):
            return tf.identity(super().call(y_true, y_pred))


class _Steps(keras.callbacks.Callback):
    def __init__(self, loss):
        super().__init__()
        self.loss, self.steps = loss, []

    def on_train_batch_end(self, batch, logs=None):
        # Keras reports the running mean of the epoch: recover the step's loss.
        mean = float(logs["loss"])
        before = sum(step[0] for step in self.steps)
        self.steps.append((mean * (batch + 1) - before, self.loss.index.numpy(), self.loss.lam.numpy(),
                           int(self.loss.choice.numpy()[0])))


def test_an_xla_fit_trains_on_the_loss_of_the_official_aligned_mix():
    # SGD(0): the weights stay, so each step's loss is recomputed in NumPy from
    # the step's plan (recorded by the loss) and the official mixed maps
    # (tests/data/vectors/alignmix_numpy_ref.py) or the MixUp images.
    mixer = kmix.layers.AlignMix(num_classes=K, seed=5)
    model = _model(mixer)
    loss = _PlanRecorder(8)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss, jit_compile=True)
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 3)).astype(np.float32)
    y = np.arange(40) % K
    steps = _Steps(loss)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[steps])

    stage, pool, head = (model.get_layer(name) for name in ("stage", "pool", "head"))
    branches = set()
    for k, (step_loss, index, lam, branch) in enumerate(steps.steps):
        xb, yb = x[8 * k: 8 * k + 8], y[8 * k: 8 * k + 8]
        if branch:
            maps = stage(xb).numpy().transpose(0, 3, 1, 2)  # the official NCHW
            mixed = REF.align_mix(maps, index, lam[:, None, None], branch - 1)
            logits = head(mixed.mean(axis=(2, 3)).astype(np.float32)).numpy()
        else:
            blended = lam[:, None, None, None] * xb + (1 - lam[:, None, None, None]) * xb[index]
            logits = head(pool(stage(blended))).numpy()
        targets = lam[:, None] * np.eye(K)[yb] + (1 - lam[:, None]) * np.eye(K)[yb[index]]
        np.testing.assert_allclose(step_loss, _cross_entropy(logits, targets), rtol=1e-4)
        branches.add(branch)
    assert branches == {0, 1, 2}, branches


def test_trains_under_mirrored_strategy_with_replicas_in_sync(two_cpus):
    rng = np.random.default_rng(1)
    x = rng.random((16, 8, 8, 3)).astype(np.float32)
    y = np.arange(16) % K
    with two_cpus.scope():
        model = _model(kmix.layers.AlignMix(num_classes=K, seed=0, input_mixup_probability=0.0))
        model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    before = trainable_snapshot(model)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert_replicas_in_sync(two_cpus, model, before)


def test_first_step_errors():
    x, y = tf.zeros((4, 8, 8, 3)), tf.constant([0, 1, 2, 0])
    loss = kmix.losses.MixupCrossentropy()
    cases = [
        ((), r"needs exactly one kmix.layers.MixingPoint, after that stage .* with none"),
        (("stage", "pool"), r"with 2: \['stage_mixing_point', 'pool_mixing_point'\]"),
        (("pool",), r"AlignMix aligns rank-4 feature maps \(B, H, W, C\) at the model's MixingPoint "
                    r"'pool_mixing_point' .* Received: activations of shape \(None, 6\)"),
    ]
    for points, message in cases:
        model = _model(kmix.layers.AlignMix(num_classes=K, seed=0), points)
        model.compile(optimizer="sgd", loss=loss)
        with pytest.raises(ValueError, match=message):
            model.train_step((x, y))
    model = _model(kmix.layers.AlignMix(num_classes=K, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.RankMixupLoss())
    with pytest.raises(ValueError, match=r"AlignMix mixes feature maps, .* needs clean logits. Received: loss=RankMixupLoss"):
        model.train_step((x, y))
    # A point whose shape the graph does not tell (a ViT's, between blocks):
    # the aligned branch refuses its token activations.
    vit = kmix.models.ViT(image_size=8, patch_size=4, num_classes=K, dim=8, depth=2, num_heads=2,
                          mixing_points=[1],
                          mixer=kmix.layers.AlignMix(num_classes=K, seed=0, input_mixup_probability=0.0))
    vit.compile(optimizer="sgd", loss=loss)
    with pytest.raises(ValueError, match=r"at the model's MixingPoint 'mixing_point_after_block1' .* "
                                         r"Received: activations of shape \(4, 5, 8\)"):
        vit.train_step((x, y))
    step_record.clear_record()
