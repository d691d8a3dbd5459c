"""One worker of the localhost multi-worker tests (tests/models/test_multi_worker.py).

    python tests/models/multi_worker_job.py INDEX PORT0,PORT1 OUT_DIR
    python tests/models/multi_worker_job.py ps PORT0,PORT1 OUT_DIR

Worker `INDEX` of a `MultiWorkerMirroredStrategy` cluster on localhost:

1. a `MixingModel` with in-graph CutMix trains 2 epochs of 2 steps without
   interruption (the reference), recording every step's plan;
2. the same model trains again with `BackupAndRestore`, stopped by an error
   after its first epoch, then a fresh model resumes from the backup for the
   second epoch, recording its plans;
3. a `kmix.models.ViT` with TransMix labels trains 2 steps.

It writes `OUT_DIR/worker-INDEX.json`: the plans, and a digest of every
trained weight. With `ps`, one process starts an in-process
`ParameterServerStrategy` cluster (a worker and a parameter server) and
writes the error a `MixingModel` raises at `compile` under it.
"""

import hashlib
import json
import os
import sys

MODE, PORTS, OUT = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
if MODE != "ps":
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"localhost:{p}" for p in PORTS]},
        "task": {"type": "worker", "index": int(MODE)},
    })
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kmix  # noqa: E402

K = 3


def digest(model):
    h = hashlib.sha256()
    for w in model.trainable_weights:
        h.update(np.ascontiguousarray(w.numpy()).tobytes())
    return h.hexdigest()


class PlanLog(kmix.losses.MixupCrossentropy):
    """MixupCrossentropy noting each training step's plan (partner index, lam)."""

    def __init__(self):
        super().__init__()
        self.plans = []

    def call(self, y_true, y_pred):
        record = self.step_record()
        if record is not None and record.training:
            tf.py_function(
                lambda index, lam: self.plans.append(
                    [index.numpy().tolist(), np.round(lam.numpy(), 6).tolist()]
                ),
                [record.plan.index, record.plan.lam], [],
            )
        return super().call(y_true, y_pred)


def dataset():
    rng = np.random.default_rng(0)
    images = rng.random((64, 8, 8, 3)).astype("float32")
    labels = np.arange(64) % K
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(8).repeat()


def cutmix_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer=keras.initializers.GlorotUniform(1))(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(K, kernel_initializer=keras.initializers.GlorotUniform(2))(x)
    model = kmix.models.MixingModel(inputs, outputs, mixer=kmix.layers.CutMix(num_classes=K, seed=7))
    log = PlanLog()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=log)
    return model, log


class StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise RuntimeError("interrupted")


def workers():
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    out = {"replicas": strategy.num_replicas_in_sync}
    with strategy.scope():
        model, log = cutmix_model()
    model.fit(dataset(), epochs=2, steps_per_epoch=2, verbose=0)
    out["reference_plans"], out["cutmix_weights"] = log.plans, digest(model)

    # Keras 3's BackupAndRestore writes one file: one directory per worker.
    backup = os.path.join(OUT, f"backup-{MODE}")
    with strategy.scope():
        model, log = cutmix_model()
    try:
        model.fit(dataset(), epochs=2, steps_per_epoch=2, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(backup), StopAfterFirstEpoch()])
    except RuntimeError:
        pass
    with strategy.scope():
        model, log = cutmix_model()
    model.fit(dataset(), epochs=2, steps_per_epoch=2, verbose=0,
              callbacks=[keras.callbacks.BackupAndRestore(backup)])
    out["resumed_plans"], out["resumed_weights"] = log.plans, digest(model)

    with strategy.scope():
        vit = kmix.models.ViT(image_size=8, patch_size=4, num_classes=K, dim=8, depth=1, num_heads=1,
                              mixer=kmix.layers.CutMix(num_classes=K, seed=3),
                              label_layer=kmix.layers.TransMixLabels(), seed=0)
        vit.compile(optimizer=keras.optimizers.SGD(0.1), loss=kmix.losses.MixupCrossentropy())
    history = vit.fit(dataset(), epochs=1, steps_per_epoch=2, verbose=0)
    out["vit_weights"], out["vit_loss"] = digest(vit), history.history["loss"]
    return out


def parameter_servers():
    cluster = {"worker": [f"localhost:{PORTS[0]}"], "ps": [f"localhost:{PORTS[1]}"]}
    spec = tf.train.ClusterSpec(cluster)
    for job in ("worker", "ps"):
        tf.distribute.Server(spec, job_name=job, task_index=0, protocol="grpc", start=True)
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(spec, rpc_layer="grpc")
    strategy = tf.distribute.experimental.ParameterServerStrategy(resolver)
    with strategy.scope():
        inputs = keras.Input((8, 8, 3))
        outputs = keras.layers.Dense(K)(keras.layers.GlobalAveragePooling2D()(inputs))
        model = kmix.models.MixingModel(inputs, outputs, mixer=kmix.layers.CutMix(num_classes=K))
        try:
            model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
        except ValueError as error:
            return {"error": str(error)}
    return {"error": None}


if __name__ == "__main__":
    result = parameter_servers() if MODE == "ps" else workers()
    with open(os.path.join(OUT, f"worker-{MODE}.json"), "w") as f:
        json.dump(result, f)
    sys.stdout.flush()
    os._exit(0)  # skip the collective runtime's slow teardown
