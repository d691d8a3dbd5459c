"""Argument and tensor checks shared by the kmix losses."""

import warnings

import tensorflow as tf

from kmix.ops.validation import check_float


def _shape_str(x):
    return str(tuple(x.shape.as_list())) if x.shape.rank is not None else "<unknown>"


def check_non_negative(value, name):
    """Returns `value` as a float, raising unless it is a finite number >= 0."""
    return check_float(value, name, 0)


def check_choice(value, choices, name):
    """Raises unless `value` is one of `choices`."""
    if value not in choices:
        expected = " or ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")


def check_logits(logits, name="logits", ranks=(2,)):
    """Returns `logits` as a tensor, raising unless its rank is in `ranks`.

    Rank 2 means `(B, K)`; rank 3 means `(M, B, K)`.
    """
    logits = tf.convert_to_tensor(logits)
    expected = {2: "(B, K)", 3: "(M, B, K)"}
    if logits.shape.rank not in ranks:
        forms = " or ".join(expected[r] for r in ranks)
        raise ValueError(
            f"`{name}` must be logits of shape {forms}. "
            f"Received: {name}.shape={_shape_str(logits)}"
        )
    return logits


def _activation_of(y_pred):
    """`"Softmax"`/`"Sigmoid"` if `y_pred` carries that activation's output, else None.

    The same two marks Keras's cross-entropies look for (its `_get_logits`):
    the `_keras_logits` attribute that Keras's softmax and sigmoid activations
    leave on their output (eager or traced), and, for a traced tensor, the op
    that produced it.
    """
    op = None
    if not isinstance(y_pred, (tf.__internal__.EagerTensor, tf.Variable)):
        op = getattr(getattr(y_pred, "op", None), "type", None)
    if op in ("Softmax", "Sigmoid"):
        return op
    if hasattr(y_pred, "_keras_logits"):
        return "Softmax"
    return None


def warn_if_not_logits(y_pred, loss_name, from_logits_arg=True):
    """Warns when `y_pred`, read as logits, is the output of a softmax (or sigmoid).

    A softmax applied twice trains on a wrong loss with no error, so kmix warns
    as Keras's own cross-entropies do.

    Args:
        y_pred: the model's output as given to the loss (before any conversion,
            which would drop the mark).
        loss_name: the loss's class name, for the message.
        from_logits_arg: whether the loss has a `from_logits` argument (then
            the message offers `from_logits=False`).
    """
    activation = _activation_of(y_pred)
    if activation is None:
        return
    received = (
        f"`{loss_name}` received `from_logits=True`"
        if from_logits_arg
        else f"`{loss_name}` reads `y_pred` as logits"
    )
    fix = (
        "Remove the activation of the output layer (e.g. `Dense(K)` instead of "
        '`Dense(K, activation="softmax")`) so that the model outputs logits'
    )
    if from_logits_arg:
        fix += ", or pass `from_logits=False`"
    warnings.warn(
        f"{received}, but `y_pred` was produced by a {activation} activation "
        f"and thus does not represent logits. Was this intended? {fix}.",
        stacklevel=3,
    )
