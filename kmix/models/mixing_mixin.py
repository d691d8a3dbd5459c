"""MixingMixin: in-graph mixing in a Keras model's train step."""

import keras
import tensorflow as tf

from kmix import step_record
from kmix._compat import require_tensorflow_backend
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.losses._checks import warn_if_not_logits
from kmix.ops.mixing import mix_soft_labels
from kmix.ops.mixing import one_hot_labels
from kmix.ops.mixing import regression_targets
from kmix.models.align_mix_step import AlignMixStep
from kmix.models.guided_mixup_step import GuidedMixupStep
from kmix.models.manifold_mixup_step import ManifoldMixupStep
from kmix.models.random_mix_choice_step import RandomMixChoiceStep
from kmix.models.smmix_step import SMMixStep
from kmix.models.snap_mix_step import SnapMixStep
from kmix.models.teacher_targets_step import TeacherTargetsStep
from kmix.mix_plan import identity_plan

# The step strategies of mixers that need the model (kmix.models.StepStrategy).
STEP_STRATEGIES = (
    SMMixStep, TeacherTargetsStep, ManifoldMixupStep, SnapMixStep, AlignMixStep, GuidedMixupStep,
    RandomMixChoiceStep,
)

# Strategies whose replicas each run the train step on their own batch.
_SUPPORTED_STRATEGIES = (
    "_DefaultDistributionStrategy",
    "OneDeviceStrategy",
    "MirroredStrategy",
    "MultiWorkerMirroredStrategy",
    "CollectiveAllReduceStrategy",
    "TPUStrategy",
    "TPUStrategyV2",
)


# The key of the mixing seed generator's state among the model's own saved variables.
_SEED_STATE_KEY = "mix_seed_generator_state"


def _flat_losses(loss):
    return [] if loss is None else keras.tree.flatten(loss)


def _takes_class_ids(loss):
    """Whether a Keras loss identifier is the sparse (class id) cross-entropy."""
    sparse = keras.losses.sparse_categorical_crossentropy
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except (ValueError, TypeError):
            return False
    return (
        loss is sparse
        or isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
        or getattr(loss, "fn", None) is sparse
    )


def _loss_repr(loss):
    if isinstance(loss, str):
        return repr(loss)
    if isinstance(loss, keras.losses.Loss):
        return f"{type(loss).__name__}(...)"
    return f"keras.losses.{getattr(loss, '__name__', type(loss).__name__)}"


def _spans_workers(strategy):
    """Whether `strategy` is a collective all-reduce strategy whose replicas span several workers.

    Keras takes the multi-worker reduction path for these only (a TPU pod's
    logs are reduced otherwise).
    """
    if type(strategy).__name__ not in ("MultiWorkerMirroredStrategy", "CollectiveAllReduceStrategy"):
        return False
    try:
        local = len(strategy.extended.worker_devices)
    except (AttributeError, RuntimeError, ValueError):
        return False
    return strategy.num_replicas_in_sync > local


def _first_replica(value):
    """The first local replica's value of a distributed value (others as they are)."""
    if isinstance(value, tf.distribute.DistributedValues):
        return tf.distribute.get_strategy().experimental_local_results(value)[0]
    return value


def step_strategy_for(mixer):
    """The `StepStrategy` class that runs the train steps of `mixer`, or None."""
    for strategy in STEP_STRATEGIES:
        if strategy.applies_to(mixer):
            return strategy
    return None


class MixingMixin:
    """Mixes batches inside the compiled training step of a Keras model.

    Put it first in the bases of a `keras.Model` subclass (or use
    `kmix.models.MixingModel` for a functional model). In `fit`, each training
    step:

    1. draws one `MixPlan` from `mixer` for the batch, on the device, from the
       model's `keras.random.SeedGenerator` (seeded with the mixer's seed, so
       runs are reproducible) folded with the replica id, so that every replica
       mixes its own batch differently;
    2. mixes the images (and, for losses that ask for it, runs the clean and
       the mixed images through the model in one concatenated forward pass);
    3. computes the loss from the plan: kmix losses given to `compile(loss=...)`
       receive the original labels and read the plan (own labels, partner
       labels, lambda, and the extra logits they need); a plain Keras loss
       receives the mixed soft targets `lam * y + (1 - lam) * take(y, index)`
       as float32 `(B, K)`.

    `evaluate` and `predict` never mix. In evaluation, kmix losses see an
    identity plan and plain Keras losses see one-hot targets.

    A step has one plan, so a model with a `mixer` must not also hold a kmix
    mixing layer in its graph (it would mix the images a second time while the
    labels follow one plan): that raises at the first training step. A model
    with `mixer=None` may hold one mixing layer, which then mixes the step.
    Since a plain Keras loss receives soft targets `(B, K)`, a model with a
    mixer refuses the sparse (class id) cross-entropy at `compile` (and at the
    first training step, if the mixer was set after `compile`). A kmix loss
    that reads logits warns when the model's output is a softmax, as Keras's
    cross-entropies do (also with the concatenated clean and mixed forward
    pass, whose split would otherwise hide the softmax).

    **Training metrics** (`compile(metrics=...)`) compare the predictions on the
    mixed images with the ORIGINAL labels as given to `fit` (so integer-label
    metrics such as `"accuracy"` work unchanged in training and validation);
    with a loss that needs clean logits (RankMixup), the predictions on the
    clean images.

    Everything runs with the TensorFlow backend, under `jit_compile=True`, and
    under `tf.distribute.MirroredStrategy` and `MultiWorkerMirroredStrategy`
    (each replica mixes its own batch; the mixin contains two Keras failures
    under the latter, keras-team/keras#20585: see the README's "Training on
    many devices and machines"); labels and lambdas stay float32 under mixed
    precision. The state of `mix_seed_generator` is saved with the model's
    own variables, so a restored model continues its seed stream.

    **Attention-guided labels**: with `label_layer=` (`kmix.layers.TransMixLabels`,
    `ProgressiveAttentionLabels`, `TokenLabelAlignment`) the step's forward
    pass also gives the attention the layer needs (`kmix.models.ViT` does so
    when asked; a functional `MixingModel` returns a dict with `"logits"` and
    the attention), and the label layer's refined lambda replaces the plan's
    `lam` (only `lam`) before any loss reads it: kmix losses and plain Keras
    losses both train on the refined labels. The attention it used and the
    area lambda stay in the step record (`cls_attention` or `attentions`, and
    `area_lam`: see `kmix.step_record.StepRecord`).

    Args:
        mixer: a kmix mixing layer (`MixUp`, `CutMix`, `RandomMixChoice`, ...).
            With integer labels it needs `num_classes`.
        label_layer: optional attention-guided label layer (needs `mixer`).
    """

    mixes_in_train_step = True

    def __init__(self, *args, mixer=None, label_layer=None, teacher=None, save_teacher=True,
                 **kwargs):
        require_tensorflow_backend(type(self).__name__)
        super().__init__(*args, **kwargs)
        if mixer is not None and not isinstance(mixer, BaseMixLayer):
            raise TypeError(
                "`mixer` must be a kmix mixing layer (e.g. kmix.layers.CutMix). "
                f"Received: mixer of type {type(mixer).__name__}"
            )
        self.mixer = mixer
        # The model owns the step's randomness (keras.io's custom train_step
        # guide does the same); seeded from the mixer's seed.
        self.mix_seed_generator = keras.random.SeedGenerator(
            mixer.seed if mixer is not None else None
        )
        self.set_label_layer(label_layer)
        self.set_teacher(teacher, save=save_teacher)

    def set_teacher(self, teacher, save=True):
        """Sets (or, with None, removes) the frozen teacher of MIX-KD distillation.

        The teacher runs, in inference mode and without gradient, on the very
        images the model trains on (the mixed batch) in every training step;
        its logits reach `kmix.losses.MixKDLoss`. It is never trained (set
        non-trainable here) and never run in `evaluate` or `predict`.

        Args:
            teacher: a Keras model mapping the images to logits `(B, K)`, or None.
            save: bool. With True the teacher is part of the model: saved and
                loaded with it (its weights count among the non-trainable
                ones). With False it is only referenced: not saved (a loaded
                model needs `set_teacher` again before training).
        """
        if teacher is not None and not isinstance(teacher, keras.layers.Layer):
            raise TypeError(
                "`teacher` must be a Keras model mapping the images to logits "
                f"(B, K). Received: teacher of type {type(teacher).__name__}"
            )
        if not isinstance(save, bool):
            raise TypeError(f"`save_teacher` must be a bool. Received: save_teacher={save!r}")
        if teacher is not None:
            teacher.trainable = False
        self.save_teacher = save
        if save:
            self.teacher = teacher
        else:
            # Not tracked: neither trained nor saved with this model.
            object.__setattr__(self, "teacher", teacher)
    def set_label_layer(self, label_layer):
        """Sets (or, with None, removes) the attention-guided label layer; validated."""
        if label_layer is not None:
            if not (
                isinstance(label_layer, keras.layers.Layer)
                and hasattr(label_layer, "required_attention")
                and hasattr(label_layer, "refine_lam")
            ):
                raise TypeError(
                    "`label_layer` must be a kmix attention-guided label layer "
                    "(kmix.layers.TransMixLabels, ProgressiveAttentionLabels or "
                    "TokenLabelAlignment). Received: label_layer of type "
                    f"{type(label_layer).__name__}"
                )
            if self.mixer is None:
                raise ValueError(
                    "`label_layer` refines the labels of mixed batches and needs a "
                    "`mixer`. Received: label_layer="
                    f"{type(label_layer).__name__} and mixer=None"
                )
        self.label_layer = label_layer

    # ------------------------------------------------------------------
    # Compiling
    # ------------------------------------------------------------------
    def compile(self, *args, **kwargs):
        loss = kwargs["loss"] if "loss" in kwargs else (args[1] if len(args) > 1 else None)
        if getattr(self, "mixer", None) is not None:
            self._check_soft_target_losses(loss)
            # The model's strategy (the scope it was built in), e.g. a
            # ParameterServerStrategy, refused before any work.
            self._check_strategy(self.distribute_strategy)
        return super().compile(*args, **kwargs)

    def compile_from_config(self, config):
        # Keras skips compiling a loaded model whose class overrides `compile`;
        # this one only adds a check, so compile as keras.Model would.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds the optimizer's and the compiled metrics' variables
        # before tracing only under a distribution strategy; otherwise they
        # are created inside the first trace of the train step, and
        # `tf.function` then traces the whole step a second time. A mixing
        # step is large (mixer, model, label layer, loss), so build first,
        # exactly as Keras does under a strategy: the first step's tracing
        # time halves and nothing else changes.
        #
        # Under a strategy, Keras takes the batch for that build by a
        # cross-replica MEAN of the first distributed batch, run eagerly;
        # under MultiWorkerMirroredStrategy that reduce cannot convert the
        # PerReplica batch and `fit` stops before its first step
        # (keras-team/keras#20585). The build needs the batch's shapes only:
        # the first local replica's batch gives them, with no collective.
        if self.run_eagerly:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        own_strategy = getattr(self, "_distribute_strategy", "absent")
        if own_strategy is not None:
            strategy = self.distribute_strategy
            if iterator is not None and data_batch is None:
                with strategy.scope():
                    for _, _, batches in iterator:
                        data_batch = keras.tree.map_structure(_first_replica, next(batches))
                        break
            return super()._maybe_symbolic_build(data_batch=data_batch)
        self._distribute_strategy = tf.distribute.get_strategy()
        try:
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        except Exception:  # noqa: BLE001
            # Building ahead is only a saving. Whatever fails in this symbolic
            # pass (labels the loss refuses, a loss that needs a real step)
            # fails again in the first step, with that step's own message.
            pass
        finally:
            self._distribute_strategy = None

    def _multi_worker_logs(self, logs):
        """The step's logs as `(1,)` tensors when the replicas span several workers.

        Keras reduces a distributed step's logs across workers with
        `strategy.reduce("MEAN", value, axis=0)`, which fails on the scalar
        logs of every train and test step (keras-team/keras#20585): a `(1,)`
        value per replica reduces to the mean scalar Keras reports.
        """
        if not _spans_workers(tf.distribute.get_strategy()):
            return logs
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}

    def _check_soft_target_losses(self, loss):
        """Refuses plain Keras losses that take class ids: they get soft targets."""
        sparse = [l for l in _flat_losses(loss) if _takes_class_ids(l)]
        if sparse:
            raise ValueError(
                f"{type(self).__name__} hands a plain Keras loss the mixed soft "
                "targets `lam * y + (1 - lam) * take(y, index)` of its mixer "
                f"{type(self.mixer).__name__}, float32 (B, K), and the sparse "
                "categorical cross-entropy expects class ids (B,). Compile with a "
                "kmix loss such as `kmix.losses.MixupCrossentropy()` (it reads the "
                "plan and takes class ids or one-hot labels), or with "
                '"categorical_crossentropy" (`keras.losses.CategoricalCrossentropy('
                "from_logits=True)` for a model that outputs logits). Received: "
                f"loss={', '.join(_loss_repr(l) for l in sparse)}"
            )

    # ------------------------------------------------------------------
    # Checks at the first step
    # ------------------------------------------------------------------
    def _check_strategy(self, strategy=None):
        strategy = tf.distribute.get_strategy() if strategy is None else strategy
        name = type(strategy).__name__
        if name not in _SUPPORTED_STRATEGIES:
            hint = (
                " (its workers run steps that a coordinator schedules, with the "
                "variables on parameter servers; mix in the input pipeline "
                "instead: ds.map(mixer))" if "ParameterServer" in name else ""
            )
            raise ValueError(
                f"{type(self).__name__} mixes each replica's batch inside the "
                "train step, which needs a strategy whose replicas run the step "
                "on their own batches: no strategy, OneDeviceStrategy, "
                "MirroredStrategy, MultiWorkerMirroredStrategy or TPUStrategy. "
                f"Received: strategy={name}{hint}"
            )

    def _check_labels(self, y):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} needs labels to mix: fit(x, y). Received: y=None"
            )
        if len(keras.tree.flatten(y)) != 1:
            raise ValueError(
                f"{type(self).__name__} mixes one label tensor per batch. Received: "
                f"a structure of {len(keras.tree.flatten(y))} label tensors"
            )
        y = tf.convert_to_tensor(y)
        if (
            y.dtype.is_integer
            and self.mixer.num_classes is None
            and self.mixer.label_mode == "classification"
        ):
            raise ValueError(
                f"{type(self).__name__} got integer labels (class ids), but its "
                f"mixer {type(self.mixer).__name__} has num_classes=None. Pass "
                f"num_classes to the mixer, e.g. {type(self.mixer).__name__}"
                "(num_classes=10), or give one-hot labels."
            )
        return y

    # ------------------------------------------------------------------
    # Seeds
    # ------------------------------------------------------------------
    def _step_seed(self):
        return self._step_seeds()[1]

    def _step_seeds(self):
        """`(shared, replica)`: the step's seed, and that seed folded with the replica id."""
        shared = seed = tf.cast(self.mix_seed_generator.next(), tf.int32)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
            seed = tf.random.experimental.stateless_fold_in(seed, replica)
        return shared, seed

    # ------------------------------------------------------------------
    # Steps
    # ------------------------------------------------------------------
    def _loss_needs_clean_logits(self):
        return any(getattr(l, "needs_clean_logits", False) for l in _flat_losses(self.loss))

    def _num_mixes(self):
        counts = {getattr(l, "num_mixes", 1) or 1 for l in _flat_losses(self.loss)}
        return max(counts) if counts else 1

    def train_step(self, data):
        if self.mixer is None:
            return self._multi_worker_logs(super().train_step(data))
        self._check_soft_target_losses(self.loss)
        # A mixing layer in the model's graph would mix a second time: it
        # raises when it finds this step running (BaseMixLayer._keep_plan).
        with step_record.mixing_step(self):
            return self._multi_worker_logs(self._mixing_train_step(data))

    def _mixing_train_step(self, data):
        # Mixers that need the model before mixing (SMMix's motivating
        # forward pass, TokenMix's teacher) run through a step strategy.
        strategy = step_strategy_for(self.mixer)
        if strategy is not None:
            if self.teacher is not None:
                raise ValueError(
                    f"The mixer {type(self.mixer).__name__} runs a train step of its "
                    "own; a `teacher` (MIX-KD) needs an input mixer such as "
                    "kmix.layers.MixKDMix. Received: teacher="
                    f"{type(self.teacher).__name__}"
                )
            if getattr(self, "label_layer", None) is not None:
                raise ValueError(
                    f"The mixer {type(self.mixer).__name__} runs a train step of its "
                    "own and makes its own labels; it cannot be combined with a "
                    f"`label_layer`. Received: label_layer={type(self.label_layer).__name__}"
                )
            return self._strategy_train_step(strategy(self, self.mixer), data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self._check_strategy()
        y = self._check_labels(y)
        images = self.mixer.check_inputs(x, name="x")
        mixer = self.mixer
        _, height, width = mixer.image_dims(images)
        mixer.check_image_size(height, width)

        seed = self._step_seed()
        num_mixes = self._num_mixes() if self._loss_needs_clean_logits() else 1
        seeds = tf.random.experimental.stateless_split(seed, num_mixes + 1)
        plans = [mixer.sample_plan(images, seed=seeds[m], labels=y) for m in range(num_mixes)]
        mixed = [mixer.mix_images(images, plan) for plan in plans]

        record = step_record.StepRecord(
            plans[0], mixer, mixer.num_classes, mixer.label_smoothing, True,
            plans=plans, loss_seed=seeds[num_mixes],
        )
        if self.teacher is not None:
            # MIX-KD: the frozen teacher sees exactly the images the model sees.
            record.teacher_logits = tf.stop_gradient(
                tf.cast(self.teacher(mixed[0], training=False), tf.float32)
            )
        if self.label_layer is not None:
            self._request_attention(record)
        if self._loss_needs_clean_logits():
            x_in = tf.concat([tf.cast(images, mixer.compute_dtype)] + mixed, axis=0)
            record.num_chunks = num_mixes + 1
        else:
            x_in = mixed[0]
        step_record.set_record(record)
        return super().train_step(keras.utils.pack_x_y_sample_weight(x_in, y, sample_weight))

    def _strategy_train_step(self, strategy, data):
        """The one update tail of the strategy steps: loss, scaling, gradients, metrics."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self._check_strategy()
        strategy.check()
        y = self._check_labels(y)
        images = self.mixer.check_inputs(x, name="x")
        _, height, width = self.mixer.image_dims(images)
        self.mixer.check_image_size(height, width)
        strategy.shared_seed, seed = self._step_seeds()
        mixed, targets = strategy.mix(images, y, seed)
        with tf.GradientTape() as tape:
            y_pred = strategy.forward(mixed)
            if strategy.targets_are_final:
                # keras.Model's own compute_loss: the targets are final.
                loss = keras.Model.compute_loss(
                    self, x=mixed, y=targets, y_pred=y_pred,
                    sample_weight=sample_weight, training=True,
                )
            else:
                loss = self._compute_loss(
                    x=mixed, y=targets, y_pred=y_pred, sample_weight=sample_weight,
                    training=True,
                )
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            self._loss_tracker.update_state(
                loss * tf.cast(replicas, loss.dtype) if replicas > 1 else loss,
                sample_weight=tf.shape(images)[0],
            )
            if self.optimizer is not None:
                loss = self.optimizer.scale_loss(loss)
        weights = self.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return self.compute_metrics(mixed, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        if self.mixer is None:
            return self._multi_worker_logs(super().test_step(data))
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch_size = tf.shape(keras.tree.flatten(x)[0])[0]
        step_record.set_record(
            step_record.StepRecord(
                identity_plan(batch_size),
                self.mixer,
                self.mixer.num_classes,
                self.mixer.label_smoothing,
                False,
            )
        )
        return self._multi_worker_logs(super().test_step(data))

    def _split_predictions(self, y_pred, check_logits=False):
        """With a concatenated forward pass: keep the clean part, record the rest.

        With `check_logits`, losses that read logits first warn if `y_pred` is
        a softmax output (the split drops the mark they would look for).
        """
        record = step_record.get_record()
        if record is None or not record.training or record.num_chunks is None:
            return y_pred
        parts = record.num_chunks
        for loss in _flat_losses(self.loss) if check_logits else ():
            if getattr(loss, "expects_logits", False):
                warn_if_not_logits(y_pred, type(loss).__name__, hasattr(loss, "from_logits"))
        if not isinstance(y_pred, tf.Tensor) or y_pred.shape.rank != 2:
            raise ValueError(
                "A loss that compares clean and mixed predictions (RankMixup) needs "
                "a model whose output is logits of shape (B, K). Received: output "
                f"{'of shape ' + str(tuple(y_pred.shape)) if hasattr(y_pred, 'shape') else 'structure ' + type(y_pred).__name__}"
            )
        chunks = tf.split(y_pred, parts, axis=0)
        step_record.record_logits(chunks[0], tf.stack(chunks[1:], axis=0))
        return chunks[0]

    # ------------------------------------------------------------------
    # Attention-guided labels
    # ------------------------------------------------------------------
    def _request_attention(self, record):
        """Asks this step's forward pass for the attention the label layer needs."""
        if self._loss_needs_clean_logits():
            raise ValueError(
                f"{type(self).__name__} cannot combine a `label_layer` with a loss "
                "that needs clean logits (RankMixup): the attention-guided labels "
                "refine a single mixed batch. Received: label_layer="
                f"{type(self.label_layer).__name__}"
            )
        record.attention_request = self.label_layer.required_attention
        record.attention_model = self

    def _take_outputs(self, y_pred):
        """Splits a dict output `{"logits", <attention>...}` into logits and the rest."""
        if getattr(self, "label_layer", None) is None or not isinstance(y_pred, dict):
            return y_pred, {}
        if "logits" not in y_pred:
            raise ValueError(
                "A model whose output is a dict must give its logits under the key "
                f"'logits'. Received: output keys {sorted(y_pred)}"
            )
        return y_pred["logits"], dict(y_pred)

    def _refine_labels(self, y, logits, outputs):
        """Replaces the step record's plan lam by the label layer's refined lam."""
        record = step_record.get_record()
        if record is None or not record.training or record.attention_request is None:
            return
        if record.labels_refined:
            return
        outputs = dict(outputs)
        for key in step_record.ATTENTION_FIELDS:
            if getattr(record, key) is not None and key not in outputs:
                outputs[key] = getattr(record, key)
        key = {"cls": "cls_attention", "all": "attentions"}[self.label_layer.required_attention]
        if key not in outputs:
            raise ValueError(
                f"The label layer {type(self.label_layer).__name__} needs the "
                f"attention of the training forward pass ('{key}'), and this model "
                f"({type(self).__name__}) cannot give attention. Use "
                "kmix.models.ViT, kmix.models.attention_tap for a keras-hub "
                "backbone, or a functional MixingModel whose output is a dict "
                f"with 'logits' and '{key}'. Received: model outputs "
                f"{sorted(outputs) if outputs else 'logits only'}"
            )
        step_record.record_attention(outputs)  # losses of the step can read it too
        outputs["logits"] = logits
        targets = None
        if getattr(self.label_layer, "needs_targets", False):
            targets = mix_soft_labels(
                one_hot_labels(y, logits.shape[-1], self.mixer.label_smoothing), record.plan
            )
        lam = self.label_layer.refine_lam(
            record.plan, outputs, targets=targets, mixer=self.mixer
        )
        step_record.set_record(record.replace(
            plan=record.plan._replace(lam=tf.stop_gradient(lam)),
            labels_refined=True,
            area_lam=record.plan.lam,
        ))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.mixer is not None and step_record.get_record() is None:
            # Keras' symbolic build (e.g. under a distribution strategy) traces
            # compute_loss outside any step: kmix losses see an evaluation step.
            logits = y_pred["logits"] if isinstance(y_pred, dict) and "logits" in y_pred else y_pred
            batch_size = tf.shape(keras.tree.flatten(logits)[0])[0]
            step_record.set_record(
                step_record.StepRecord(
                    identity_plan(batch_size), self.mixer, self.mixer.num_classes,
                    self.mixer.label_smoothing, False,
                )
            )
            try:
                return self.compute_loss(x, y, y_pred, sample_weight, training=training)
            finally:
                step_record.clear_record()
        if self.mixer is not None:
            y_pred, outputs = self._take_outputs(y_pred)
            if self.label_layer is not None and training:
                self._refine_labels(y, y_pred, outputs)
            y_pred = self._split_predictions(y_pred, check_logits=True)
            losses = _flat_losses(self.loss)
            if losses and not all(getattr(l, "reads_mix_plan", False) for l in losses):
                y = self._plain_loss_targets(y, y_pred)
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)

    def _plain_loss_targets(self, y, y_pred):
        """Soft mixed targets (training) or one-hot targets (evaluation), float32."""
        record = step_record.get_record()
        if self.mixer.label_mode == "regression":
            targets = regression_targets(y)
            if record is None or not record.training:
                return targets
            return mix_soft_labels(targets, record.plan)
        num_classes = y_pred.shape[-1]
        targets = one_hot_labels(y, num_classes, self.mixer.label_smoothing if record is not None and record.training else 0.0)
        if record is None or not record.training:
            return targets
        return mix_soft_labels(targets, record.plan)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self.mixer is not None:
            y_pred, _ = self._take_outputs(y_pred)
            y_pred = self._split_predictions(y_pred)
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    # ------------------------------------------------------------------
    # Saving: the step's seed stream is part of the training state
    # ------------------------------------------------------------------
    def save_own_variables(self, store):
        """Saves the model's own variables and the state of its mixing seed generator.

        Keras saves the variables of layers only; the state of
        `mix_seed_generator` (a `keras.random.SeedGenerator`, not a layer)
        would be lost, and a model restored from a checkpoint (`.keras`,
        `save_weights`, `keras.callbacks.BackupAndRestore`) would draw the
        plans of its first steps again. Saved under its own key.
        """
        super().save_own_variables(store)
        store[_SEED_STATE_KEY] = self.mix_seed_generator.state.numpy()

    def load_own_variables(self, store):
        keys = list(store.keys())
        if _SEED_STATE_KEY in keys:
            self.mix_seed_generator.state.assign(store[_SEED_STATE_KEY])
            store = {k: store[k] for k in keys if k != _SEED_STATE_KEY}
        super().load_own_variables(store)

    def get_config(self):
        config = super().get_config()
        config["mixer"] = (
            keras.saving.serialize_keras_object(self.mixer) if self.mixer is not None else None
        )
        label_layer = getattr(self, "label_layer", None)
        config["label_layer"] = (
            keras.saving.serialize_keras_object(label_layer) if label_layer is not None else None
        )
        teacher = getattr(self, "teacher", None)
        saved = teacher is not None and getattr(self, "save_teacher", True)
        config["teacher"] = keras.saving.serialize_keras_object(teacher) if saved else None
        config["save_teacher"] = getattr(self, "save_teacher", True)
        return config
