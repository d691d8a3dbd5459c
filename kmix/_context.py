"""Where a mixing layer leaves its plan for the loss of the same training step.

A mixing layer inside a plain `keras.Sequential` only sees images, while the
loss given to `compile` only sees `y_true` and `y_pred`. The layer therefore
records its plan here, keyed by the graph being traced and the thread (one per
replica under `tf.distribute`), and kmix losses read it back in the same step.
In eager mode the record lives in a thread-local slot that the layer clears
whenever it runs without mixing.
"""

import threading
import weakref
from typing import Any
from typing import NamedTuple
from typing import Optional

import tensorflow as tf


class StepRecord(NamedTuple):
    """What a mixer left for the loss of the current step."""

    plan: Any
    source: Any  # the mixing layer
    num_classes: Optional[int]
    label_smoothing: float


_graph_records = weakref.WeakKeyDictionary()
_eager = threading.local()
_lock = threading.Lock()


def _graph():
    if tf.executing_eagerly():
        return None
    return tf.compat.v1.get_default_graph()


def set_record(record):
    graph = _graph()
    if graph is None:
        _eager.record = record
        return
    with _lock:
        _graph_records.setdefault(graph, {})[threading.get_ident()] = record


def get_record():
    graph = _graph()
    if graph is None:
        return getattr(_eager, "record", None)
    with _lock:
        per_thread = _graph_records.get(graph)
        while per_thread is None and hasattr(graph, "outer_graph"):
            # Control-flow branches (tf.cond/while bodies) are graphs nested in
            # the traced step; the record may sit in an enclosing one.
            graph = graph.outer_graph
            if graph is None:
                break
            per_thread = _graph_records.get(graph)
    if not per_thread:
        return None
    return per_thread.get(threading.get_ident())


def clear_record():
    graph = _graph()
    if graph is None:
        _eager.record = None
        return
    with _lock:
        per_thread = _graph_records.get(graph)
        if per_thread:
            per_thread.pop(threading.get_ident(), None)
