"""Where a mixer leaves its plan for the loss of the same training step.

A mixing layer inside a plain `keras.Sequential` only sees images, while the
loss given to `compile` only sees `y_true` and `y_pred`. The mixer (the layer,
or `kmix.models.MixingMixin`'s train step) therefore records what it drew
here, keyed by the graph being traced and the thread (one per replica under
`tf.distribute`), and kmix losses read it back in the same step. In eager mode
the record lives in a thread-local slot that is replaced at every call.
"""

import threading
import weakref
from typing import Any
from typing import NamedTuple
from typing import Optional

import tensorflow as tf


class StepRecord(NamedTuple):
    """What a mixer left for the loss of the current step.

    Attributes:
        plan: the `MixPlan` of the batch the model saw (an identity plan when
            `training` is False).
        source: the mixing layer (for messages).
        num_classes: the mixer's `num_classes` or None.
        label_smoothing: the mixer's label smoothing.
        training: False in `evaluate`/`predict`, where nothing was mixed.
        extras: dict of further tensors for losses that need them:
            `"clean_logits"` `(B, K)` (RankMixup, SMMix), `"mixed_logits"`
            `(M, B, K)` and `"plans"` (a list of M plans, RankMixup's M-NDCG),
            `"seed"` `(2,)` (losses with randomness, LUMix).
    """

    plan: Any
    source: Any
    num_classes: Optional[int]
    label_smoothing: float
    training: bool = True
    extras: Optional[dict] = None


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
        while graph is not None:
            # Control-flow branches (tf.cond/while bodies) are graphs nested in
            # the traced step; the record may sit in an enclosing one.
            per_thread = _graph_records.get(graph)
            if per_thread and threading.get_ident() in per_thread:
                return per_thread[threading.get_ident()]
            graph = getattr(graph, "outer_graph", None)
    return None


def clear_record():
    graph = _graph()
    if graph is None:
        _eager.record = None
        return
    with _lock:
        per_thread = _graph_records.get(graph)
        if per_thread:
            per_thread.pop(threading.get_ident(), None)
