"""The only module that reaches into Keras internals (`keras.src`).

Each helper degrades gracefully when the private API it relies on moves.
"""

import keras


def require_tensorflow_backend(what):
    """Raises a clear error when Keras does not run on TensorFlow."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"{what} needs the TensorFlow backend of Keras (kmix computes with "
            "TensorFlow ops so that it runs in tf.data and under XLA). Set "
            "KERAS_BACKEND=tensorflow before importing keras. "
            f"Received: keras.backend.backend()={backend!r}"
        )


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
