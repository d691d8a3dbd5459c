"""Interleaved timing of Keras train steps, shared by the train-step benchmarks."""

import statistics
import time


def median_step_ms(models, images, labels, rounds, warmup=3):
    """Median `train_on_batch` time per model, in ms, with the steps interleaved.

    Args:
        models: dict `{name: compiled keras.Model}`.
        images, labels: one batch, used for every step.
        rounds: timed rounds; each round runs one step of every model.
        warmup: untimed steps per model first (tracing and compilation).

    Returns:
        dict `{name: median milliseconds}`.
    """
    for model in models.values():
        for _ in range(warmup):
            model.train_on_batch(images, labels)
    times = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(images, labels)
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}
