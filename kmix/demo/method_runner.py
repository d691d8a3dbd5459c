"""MethodRunner: one method's model, compiled once, trained from scratch for each seed."""

import keras
import numpy as np
import tensorflow as tf

import kmix
from kmix.demo import protocol
from kmix.demo.protocol import scores
from kmix.demo.warmup_cosine import WarmupCosine


class MethodRunner:
    """One method's model, compiled once, trained from scratch for each seed."""

    def __init__(self, name, method, data, epochs, steps_per_epoch, jit_compile):
        self.name, self.method, self.data = name, method, data
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch
        self.model = protocol.make_vit(method, 0)
        self.model.compile(
            optimizer=keras.optimizers.AdamW(
                WarmupCosine(2e-3, epochs * steps_per_epoch, protocol.WARMUP_EPOCHS * steps_per_epoch),
                weight_decay=0.05,
            ),
            loss=method[2](),
            jit_compile=jit_compile,
            # One call per epoch: Keras's per-step overhead is a third of a
            # step this small.
            steps_per_execution=steps_per_epoch,
        )
        self.model.optimizer.build(self.model.trainable_variables)
        self._optimizer_start = [v.numpy() for v in self.model.optimizer.variables]
        model = self.model
        self._logits = tf.function(lambda x: model(x, training=False), jit_compile=jit_compile, autograph=False)

    def reset(self, seed):
        """Weights, seed generators and optimiser state as a fresh model of `seed`."""
        fresh = protocol.make_vit(self.method, seed)
        fresh(self.data["train"][0][:1], training=False)
        target, source = self.model.variables, fresh.variables
        if [v.shape for v in target] != [v.shape for v in source]:
            raise RuntimeError("a fresh model's variables do not match the compiled model's")
        for variable, value in zip(target, source):
            variable.assign(value)
        for variable, value in zip(self.model.optimizer.variables, self._optimizer_start):
            variable.assign(value)

    def logits(self, images):
        """Logits of every image, in chunks of `protocol.EVAL_BATCH` (one compiled shape for all splits)."""
        n = len(images)
        padded = np.concatenate([images, np.zeros((-n % protocol.EVAL_BATCH,) + images.shape[1:], images.dtype)])
        chunks = [self._logits(tf.constant(padded[i:i + protocol.EVAL_BATCH])).numpy()
                  for i in range(0, len(padded), protocol.EVAL_BATCH)]
        return np.concatenate(chunks)[:n]

    def run(self, seed, verbose=0):
        """Trains seed `seed` from scratch; returns its scores and learning curve."""
        self.reset(seed)
        train_x, train_y = self.data["train"]
        test_x, test_y = self.data["test"]
        ds = (
            tf.data.Dataset.from_tensor_slices((train_x, train_y))
            .shuffle(len(train_y), seed=seed, reshuffle_each_iteration=True)
            .batch(protocol.BATCH_SIZE, drop_remainder=True)
            .repeat()
            .prefetch(tf.data.AUTOTUNE)
        )
        curve = []
        record = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: curve.append(scores(test_y, self.logits(test_x), ece=False))
        )
        # shuffle=False: the dataset shuffles itself, with this seed.
        self.model.fit(ds, epochs=self.epochs, steps_per_epoch=self.steps_per_epoch,
                       callbacks=[record], verbose=verbose, shuffle=False)
        test_logits = self.logits(test_x)
        result = scores(test_y, test_logits)
        result["train_accuracy"] = scores(train_y, self.logits(train_x))["accuracy"]
        val_x, val_y = self.data["validation"]
        temperature = kmix.metrics.fit_temperature(val_y, self.logits(val_x))
        scaled = scores(test_y, test_logits / temperature)
        result.update(temperature=temperature, ece_scaled=scaled["ece"], nll_scaled=scaled["nll"])
        result["probabilities"] = tf.nn.softmax(test_logits).numpy()
        return result, curve
