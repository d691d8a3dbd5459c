"""Checks shared by the MirroredStrategy tests: the replicas trained as one model."""

import numpy as np


def trainable_snapshot(model):
    """The values of the model's trainable weights, to compare after training."""
    return [w.numpy().copy() for w in model.trainable_weights]


def assert_replicas_in_sync(strategy, model, before=None):
    """Every trainable weight holds the same value on every replica (and moved).

    Args:
        strategy: the `tf.distribute` strategy the model was built under.
        model: the trained model.
        before: optional `trainable_snapshot(model)` taken before training; then
            at least one weight must have changed.
    """
    moved = False
    with strategy.scope():
        for k, weight in enumerate(model.trainable_weights):
            values = [v.numpy() for v in strategy.experimental_local_results(weight.value)]
            assert len(values) == strategy.num_replicas_in_sync, weight.name
            for other in values[1:]:
                np.testing.assert_array_equal(values[0], other, err_msg=weight.name)
            if before is not None and not np.array_equal(values[0], before[k]):
                moved = True
    assert before is None or moved, "no weight changed in training"
