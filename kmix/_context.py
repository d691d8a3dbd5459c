"""Where a mixer leaves its plan for the loss of the same training step.

A mixing layer inside a plain `keras.Sequential` only sees images, while the
loss given to `compile` only sees `y_true` and `y_pred`. The mixer (the layer,
or `kmix.models.MixingMixin`'s train step) therefore records what it drew
here, keyed by the graph being traced and the thread (one per replica under
`tf.distribute`), and kmix losses read it back in the same step. In eager mode
the record lives in a thread-local slot that is replaced at every call (and
outlives the step: the next step, or another model in the same thread, finds
it there).

One record per step means one plan per step, so a step must have one mixer.
A mixing layer's record carries the Keras call context of the forward pass it
ran in (one object per outermost model call, shared by every layer inside it,
eager or traced): a second mixing layer of the same forward pass finds a
training record from the same context and refuses to overwrite it. The
record keeps that object alive, so an identity match is never a reused `id`.
`kmix.models.MixingMixin` marks its train step as running (`mixing_step`), so
that a mixing layer inside its graph, which would mix a second time, refuses
too.
"""

import contextlib
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
        call_context: the Keras call context of the forward pass in which a
            mixing layer drew the plan (see `kmix._compat.current_call_context`),
            or None when a train step recorded it.
    """

    plan: Any
    source: Any
    num_classes: Optional[int]
    label_smoothing: float
    training: bool = True
    extras: Optional[dict] = None
    call_context: Any = None


_graph_records = weakref.WeakKeyDictionary()
_eager = threading.local()
_lock = threading.Lock()
_steps = threading.local()


@contextlib.contextmanager
def mixing_step(model):
    """Marks `model`'s mixing train step as running in this thread.

    Python runs the step (or traces it) in the thread that calls it, one per
    replica under `tf.distribute`, so a thread-local stack brackets it exactly.
    """
    stack = getattr(_steps, "models", None)
    if stack is None:
        stack = _steps.models = []
    stack.append(model)
    try:
        yield
    finally:
        stack.pop()


def in_mixing_step(model):
    """Whether `model`'s mixing train step is running in this thread."""
    return any(m is model for m in getattr(_steps, "models", ()))


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
