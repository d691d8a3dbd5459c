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
import dataclasses
import threading
import weakref
from typing import Any
from typing import Optional

import tensorflow as tf


@dataclasses.dataclass(eq=False)
class StepRecord:
    """What a mixer left for the loss of the current step: named fields only.

    Who writes what: a mixing layer or the train step of
    `kmix.models.MixingMixin` creates the record (the first six fields); the
    train step adds the fields of its own section; the model's forward pass
    (`kmix.models.ViT`, through `record_attention`) adds the attention it was
    asked for; SMMix's and TokenMix's train steps add theirs. Losses only read.

    Attributes:
        plan: the `MixPlan` of the batch the model saw (an identity plan when
            `training` is False). With a label layer, its `lam` is the refined
            one once `labels_refined` is True.
        source: the mixing layer (for messages).
        num_classes: the mixer's `num_classes` or None.
        label_smoothing: the mixer's label smoothing.
        training: False in `evaluate`/`predict`, where nothing was mixed.
        call_context: the Keras call context of the forward pass in which a
            mixing layer drew the plan (see `kmix._compat.current_call_context`),
            or None when a train step recorded it.
        plans: the step's M plans (`plans[0]` is `plan`), for RankMixup's
            M-NDCG; None when a layer drew the plan.
        loss_seed: `(2,)` int32 seed for losses with randomness (LUMix).
        num_chunks: with a concatenated forward pass (clean images, then M
            mixed batches), the number of chunks `1 + M`; else None.
        clean_logits: `(B, K)` logits of the clean images (RankMixup, SMMix).
        mixed_logits: `(M, B, K)` logits of the M mixed batches (RankMixup).
        attention_request: `"cls"` or `"all"`: the attention the label layer
            needs from this step's forward pass; None without a label layer.
        attention_model: the model asked for that attention.
        labels_refined: whether the label layer has replaced `plan.lam`.
        area_lam: `(B,)` the plan's area lambda before the refinement.
        cls_attention: `(B, N)` class-token attention of the forward pass.
        attentions: `(L, B, 1 + N, 1 + N)` every block's attention.
        patch_attention: `(B, N)` attention over the patches (SMMix).
        target_logits: `(B, K)` SMMix's token head on the own region.
        source_logits: `(B, K)` SMMix's token head on the pasted region.
        smmix_rows: `(B,)` float, 1 for rows SMMix mixed.
        shift: `(B, 2)` SMMix's window shift in pixels.
        teacher_targets: `(B, K)` TokenMix's teacher targets.
        mixing_point: int32 scalar, Manifold Mixup's point of this step: 0 for
            the input, `j` for the `j`-th of `mixing_points`; None otherwise.
            AlignMix's likewise (0: the images, 1: its one point).
        mixing_points: the model's `kmix.layers.MixingPoint` layers, in order.
        hidden_mix: the function `hidden -> mixed hidden` that the chosen
            `MixingPoint` applies (AlignMix's aligned mix of rank-4 maps); None
            for Manifold Mixup's row blend with `plan`.
        teacher_logits: `(B, K)` a frozen teacher's logits on the mixed batch
            (MIX-KD), without gradient.
    """

    plan: Any
    source: Any
    num_classes: Optional[int]
    label_smoothing: float
    training: bool = True
    call_context: Any = None
    # Written by a train step that draws the plans itself.
    plans: Optional[list] = None
    loss_seed: Any = None
    num_chunks: Optional[int] = None
    clean_logits: Any = None
    mixed_logits: Any = None
    # Attention-guided labels.
    attention_request: Optional[str] = None
    attention_model: Any = None
    labels_refined: bool = False
    area_lam: Any = None
    cls_attention: Any = None
    attentions: Any = None
    patch_attention: Any = None
    # SMMix and TokenMix.
    target_logits: Any = None
    source_logits: Any = None
    smmix_rows: Any = None
    shift: Any = None
    teacher_targets: Any = None
    # Manifold Mixup and AlignMix (hidden states).
    mixing_point: Any = None
    mixing_points: Optional[list] = None
    hidden_mix: Any = None
    # Distillation from a teacher (MIX-KD).
    teacher_logits: Any = None

    def replace(self, **changes):
        """A copy with `changes` (field names) applied."""
        return dataclasses.replace(self, **changes)


ATTENTION_FIELDS = ("cls_attention", "attentions", "patch_attention")


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


def requested_attention(model):
    """The attention (`"cls"`, `"all"`) this training step asks `model` for, or None."""
    record = get_record()
    if record is None or not record.training or record.attention_model is not model:
        return None
    return record.attention_request


def record_attention(outputs):
    """Keeps the attention entries of a forward pass's `outputs` in the step record."""
    record = get_record()
    if record is None:
        return
    for name in ATTENTION_FIELDS:
        if name in outputs:
            setattr(record, name, outputs[name])


def record_logits(clean_logits, mixed_logits):
    """Keeps the clean `(B, K)` and mixed `(M, B, K)` logits of a concatenated pass (once)."""
    record = get_record()
    if record is not None and record.mixed_logits is None:
        record.clean_logits = clean_logits
        record.mixed_logits = mixed_logits


def check_loss_reads_plan(layer, model):
    """The guard against plan-blind losses: raises if `model`'s loss cannot see the plan.

    A mixing `layer` inside a compiled `model` mixes only the images; the loss
    must read the recorded plan (a kmix loss) or it trains on unmixed labels.
    Models that mix in their own train step (`kmix.models.MixingMixin`) hand
    plain losses the mixed targets themselves and are not checked here.
    """
    import keras

    if model is None or model is layer or not isinstance(model, keras.Model):
        return
    if getattr(model, "mixes_in_train_step", False):
        return
    if not getattr(model, "compiled", False):
        return
    loss = getattr(model, "loss", None)
    if loss is None:
        return
    losses = keras.tree.flatten(loss)
    unaware = [l for l in losses if not getattr(l, "reads_mix_plan", False)]
    if unaware:
        names = ", ".join(
            getattr(l, "name", None) or getattr(l, "__name__", None) or repr(l)
            if not isinstance(l, str) else repr(l)
            for l in unaware
        )
        raise ValueError(
            f"{type(layer).__name__} mixes the images inside model "
            f"'{model.name}', but the model was compiled with loss={names}, "
            "which cannot see the mixing plan: it would train on unmixed "
            "labels. Compile with a kmix loss such as "
            "`kmix.losses.MixupCrossentropy()`, or mix (images, labels) in "
            "the tf.data pipeline with `ds.map(layer)`."
        )
