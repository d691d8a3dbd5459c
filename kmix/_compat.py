"""The only module that reaches into Keras internals (`keras.src`).

Each helper degrades gracefully when the private API it relies on moves.
"""

import keras


def require_tensorflow_backend(what):
    """Raises a clear error when Keras does not run on TensorFlow (in-model mixing)."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise in_model_mixing_error(what, backend)


def in_model_mixing_error(what, backend=None):
    """The error for a TensorFlow-only kmix part used under another Keras backend."""
    backend = backend or keras.backend.backend()
    return RuntimeError(
        f"{what} needs the TensorFlow backend of Keras: in-model mixing (mixing "
        "layers inside a model, kmix.models, kmix losses and metrics) computes "
        "with TensorFlow ops inside the model's step. Under "
        f"KERAS_BACKEND={backend}, kmix's input mixers run in a tf.data "
        "pipeline (ds.map(kmix.layers.CutMix(num_classes=...))) that feeds a "
        f"{backend} model trained with Keras's own losses on the mixed soft "
        "labels (keras.losses.CategoricalCrossentropy). Received: "
        f"keras.backend.backend()={backend!r}"
    )


def check_teacher_backend(what, teacher, given):
    """Refuses a teacher model under another Keras backend (it would run inside tf.data)."""
    backend = keras.backend.backend()
    if teacher is not None and backend != "tensorflow":
        raise RuntimeError(
            f"{what}'s `teacher` is a Keras model that the layer runs on each "
            f"batch; under KERAS_BACKEND={backend} a {backend} model cannot run "
            "inside a tf.data pipeline. Give its output in the input dict "
            f"instead ({given}), or use the TensorFlow backend. Received: "
            f"teacher={type(teacher).__name__} with keras.backend.backend()={backend!r}"
        )


def tensorflow_seed_generator(seed):
    """A `keras.random.SeedGenerator` whose state is a TensorFlow variable, whatever the backend.

    kmix draws its seeds with TensorFlow ops (in `tf.data`, under XLA); under
    another Keras backend the generator is built on Keras's TensorFlow backend,
    as Keras's own `tf.data` preprocessing layers do. Private API:
    `keras.src.utils.backend_utils.DynamicBackend`.
    """
    if keras.backend.backend() == "tensorflow":
        return keras.random.SeedGenerator(seed)
    from keras.src.utils.backend_utils import DynamicBackend

    return keras.random.SeedGenerator(seed, backend=DynamicBackend("tensorflow"))


def current_call_context():
    """The Keras call context of the outermost call in progress, or None.

    Keras creates one context object per outermost `__call__` (a model's
    forward pass, or a layer called on its own) and every layer called inside
    it shares that object, in eager mode and while a graph is traced. Two
    layers that see the same object run in the same forward pass. Keep a
    reference to it when comparing identities later, so that its `id` cannot be
    reused. Private API: `keras.src.backend.common.global_state`.
    """
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # pragma: no cover - Keras moved its internals
        return None
    return global_state.get_global_attribute("current_call_ctx")


def current_entry_layer():
    """The outermost layer or model of the Keras call in progress, or None.

    Keras keeps a per-thread call context whose `entry_layer` is the object
    that `__call__` was first invoked on (the model, when a layer runs inside
    one). Private API: `keras.src.backend.common.global_state`.
    """
    return getattr(current_call_context(), "entry_layer", None)


def functional_from_config(cls, config, custom_objects=None):
    """Rebuilds a functional model subclass from its config (Keras private API)."""
    from keras.src.models.functional import functional_from_config as rebuild

    return rebuild(cls, config, custom_objects=custom_objects)


def in_xla_context():
    """Whether ops being traced now will be compiled by XLA (TF private API).

    Used to pick static-shape code paths inside `jit_compile=True` functions.
    """
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - TensorFlow moved its internals
        return False
    import tensorflow as tf

    if tf.executing_eagerly():
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())
