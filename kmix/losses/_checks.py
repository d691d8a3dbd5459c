"""Argument and tensor checks shared by the kmix losses."""

import tensorflow as tf


def _shape_str(x):
    return str(tuple(x.shape.as_list())) if x.shape.rank is not None else "<unknown>"


def check_non_negative(value, name):
    """Raises unless `value` is a real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float >= 0. Received: {name}={value!r}")
    if not value >= 0:
        raise ValueError(f"`{name}` must be a float >= 0. Received: {name}={value}")


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
