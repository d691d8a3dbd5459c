"""Input checks shared by ops, layers and losses.

Every check raises before any work, with a message that names the argument, the
expected form and what was received (shapes and dtypes, never tensor values).
"""

import math

import numpy as np
import tensorflow as tf


def _shape_str(x):
    return str(tuple(x.shape.as_list())) if x.shape.rank is not None else "<unknown>"


def is_integer_scalar(value):
    """Whether `value` is a Python or NumPy integer (bools excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real_scalar(value):
    """Whether `value` is a Python or NumPy real number (bools excluded)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _bounds(minimum, maximum, min_inclusive, max_inclusive):
    if minimum is not None and maximum is not None:
        lo = "[" if min_inclusive else "("
        hi = "]" if max_inclusive else ")"
        return f" in {lo}{minimum}, {maximum}{hi}"
    if minimum is not None:
        return f" {'>=' if min_inclusive else '>'} {minimum}"
    if maximum is not None:
        return f" {'<=' if max_inclusive else '<'} {maximum}"
    return ""


def check_int(value, name, minimum=None, maximum=None, *, allow_none=False,
              expected=None, type_expected=None):
    """Returns `value` as a Python int, raising unless it is an int in range.

    Python and NumPy integers are accepted alike (bools are not), so that
    `get_config()` holds plain Python numbers.

    Args:
        value: the argument.
        name: str, the argument's name for the message.
        minimum, maximum: optional inclusive bounds.
        allow_none: bool. Whether `None` is accepted (and returned).
        expected: optional str, the expected form in the messages (e.g.
            `"an int or None"`); built from the bounds by default.
        type_expected: optional str, the expected form in the `TypeError`
            message only; defaults to `expected`.

    Returns:
        `int(value)`, or `None`.

    Raises:
        TypeError: `value` is not an integer.
        ValueError: `value` is out of range.
    """
    if value is None and allow_none:
        return None
    if expected is None:
        expected = "an int" + _bounds(minimum, maximum, True, True)
        if allow_none:
            expected = "None or " + expected
    if not is_integer_scalar(value):
        raise TypeError(
            f"`{name}` must be {type_expected or expected}. Received: {name}={value!r}"
        )
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={number}")
    return number



def check_image_grid(height, width, who, patch_size=None, multiple_rule=None):
    """Raises unless the image sides are static ints and multiples of `patch_size`.

    The one image-size check of the mixers that need a static grid (FMix,
    MaskMix, TokenMix, SMMix, CutMix with `patch_size`).

    Args:
        height, width: the image sides: ints, or scalar tensors when unknown.
        who: what needs them, the subject of the message ("TokenMix").
        patch_size: optional int; the sides must be multiples of it.
        multiple_rule: the sentence stating the multiple rule in the error;
            defaults to "The image height and width must be multiples of
            `patch_size`".
    """
    if not (isinstance(height, int) and isinstance(width, int)):
        raise ValueError(
            f"{who} needs the image height and width known statically. "
            "Received: images of unknown size"
        )
    if patch_size is not None and (height % patch_size or width % patch_size):
        rule = multiple_rule or "The image height and width must be multiples of `patch_size`"
        raise ValueError(
            f"{rule}. Received: patch_size={patch_size} and images of size {height}x{width}"
        )

def check_float(value, name, minimum=None, maximum=None, *, min_inclusive=True,
                max_inclusive=True, allow_none=False, kind="float"):
    """Returns `value` as a Python float, raising unless it is a finite number in range.

    Python and NumPy numbers are accepted alike (bools are not); NaN and
    infinities are refused, so that no hyper-parameter silently yields NaN
    outputs or a mixer that never mixes.

    Args:
        value: the argument.
        name: str, the argument's name for the message.
        minimum, maximum: optional bounds.
        min_inclusive, max_inclusive: bool. Whether the bounds are allowed.
        allow_none: bool. Whether `None` is accepted (and returned).
        kind: str, the noun of the message (`"float"` or `"number"`).

    Returns:
        `float(value)`, or `None`.

    Raises:
        TypeError: `value` is not a real number.
        ValueError: `value` is not finite or is out of range.
    """
    if value is None and allow_none:
        return None
    bounds = _bounds(minimum, maximum, min_inclusive, max_inclusive)
    prefix = "None or " if allow_none else ""
    expected = f"{prefix}a {kind}{bounds}"
    if not is_real_scalar(value):
        raise TypeError(f"`{name}` must be {expected}. Received: {name}={value!r}")
    number = float(value)
    shown = value if isinstance(value, (int, float)) else number
    if not math.isfinite(number):
        raise ValueError(
            f"`{name}` must be {prefix}a finite {kind}{bounds}. Received: {name}={shown}"
        )
    if minimum is not None and (number < minimum or (number == minimum and not min_inclusive)):
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={shown}")
    if maximum is not None and (number > maximum or (number == maximum and not max_inclusive)):
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={shown}")
    return number


def check_one_of(value, name, options):
    """Returns `value` if it is one of `options`; else a ValueError naming `name`."""
    if value not in options:
        raise ValueError(f"`{name}` must be one of {options}. Received: {name}={value!r}")
    return value


def check_data_format(data_format):
    """Returns `data_format` if it is `"channels_last"` or `"channels_first"`; else a ValueError."""
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "`data_format` must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    return data_format


def check_seed(seed, name="seed"):
    """Returns `seed` as a Python int or None, raising unless it is one."""
    return check_int(seed, name, allow_none=True, expected="an int or None")


def check_probability(value, name):
    """Returns `value` as a float, raising unless it is a finite number in [0, 1]."""
    return check_float(value, name, 0, 1)


def check_positive(value, name):
    """Returns `value` as a float, raising unless it is a finite number > 0."""
    return check_float(value, name, 0, min_inclusive=False)


def check_num_classes(num_classes):
    """Returns `num_classes` as an int (or None), raising unless it is None or an int >= 1."""
    return check_int(
        num_classes, "num_classes", minimum=1, allow_none=True,
        expected="an int >= 1", type_expected="None or an int >= 1",
    )


def check_label_smoothing(label_smoothing):
    """Returns `label_smoothing` as a float, raising unless it is in [0, 1)."""
    return check_float(label_smoothing, "label_smoothing", 0, 1, max_inclusive=False)


def check_images(images, name="images", allow_single=True):
    """Checks that `images` is a batch (rank 4) or, if allowed, one image (rank 3).

    Returns:
        `(images, single)`: the images as a rank-4 tensor and whether a single
        image was given (so that the caller can squeeze the result back).
    """
    if not isinstance(images, (tf.Tensor, tf.Variable)) and not hasattr(images, "shape"):
        raise TypeError(
            f"`{name}` must be a tensor or array of shape (B, H, W, C). "
            f"Received: {name} of type {type(images).__name__}"
        )
    images = tf.convert_to_tensor(images)
    rank = images.shape.rank
    if rank == 4:
        return images, False
    if rank == 3 and allow_single:
        return images[None], True
    expected = "rank 4 (B, H, W, C)" + (" or rank 3 (H, W, C) for a single image" if allow_single else "")
    raise ValueError(
        f"`{name}` must have {expected}. Received: {name}.shape={_shape_str(images)}"
    )


def check_batch(values, name="inputs"):
    """Checks that `values` is a batch `(B, ...)` of any rank >= 1 (features, sequences, images)."""
    if not isinstance(values, (tf.Tensor, tf.Variable)) and not hasattr(values, "shape"):
        raise TypeError(
            f"`{name}` must be a tensor or array of shape (B, ...). "
            f"Received: {name} of type {type(values).__name__}"
        )
    values = tf.convert_to_tensor(values)
    if values.shape.rank is None or values.shape.rank < 1:
        raise ValueError(
            f"`{name}` must be a batch of shape (B, ...). Received: {name}.shape={_shape_str(values)}"
        )
    return values


def check_same_batch(images, labels, names=("images", "labels")):
    """Raises if the leading dimensions differ (statically), or asserts at run time."""
    b1 = images.shape[0]
    b2 = labels.shape[0] if labels.shape.rank else None
    if b1 is not None and b2 is not None:
        if b1 != b2:
            raise ValueError(
                f"`{names[0]}` and `{names[1]}` must have the same batch size. "
                f"Received: {names[0]}.shape={_shape_str(images)} and "
                f"{names[1]}.shape={_shape_str(labels)}"
            )
        return []
    if tf.executing_eagerly():
        return []
    return [
        tf.debugging.assert_equal(
            tf.shape(images)[0],
            tf.shape(labels)[0],
            message=(
                f"`{names[0]}` and `{names[1]}` must have the same batch size."
            ),
        )
    ]


def float_class_ids(values, labels, name="labels"):
    """Float class ids as int64, refusing values that are not whole numbers.

    Keras casts integer class ids to float before calling a loss, so float ids
    holding whole numbers (0.0, 1.0, ...) are accepted; 0.3, NaN or inf are
    never silently rounded. Eagerly a `ValueError` is raised now; in a traced
    graph an assertion fails at run time; under XLA, which drops assertions,
    the caller must turn the rows where the returned mask is False into NaN
    (their id is -1).

    Args:
        values: float tensor `(B,)` of class ids.
        labels: the labels as given (for the message's shape and dtype).
        name: the argument's name for the message.

    Returns:
        `(ids, integral)`: int64 ids `(B,)` (-1 where not a whole number) and
        the bool mask `(B,)` of whole-number rows.
    """
    values = tf.cast(values, tf.float64 if values.dtype == tf.float64 else tf.float32)
    rounded = tf.round(values)
    integral = tf.math.is_finite(values) & tf.equal(values, rounded)
    message = (
        f"Float `{name}` of shape (B,) or (B, 1) are read as class ids and must "
        "hold whole numbers (0.0, 1.0, ...); soft labels must have shape (B, K) "
        "with K = num_classes."
    )
    if tf.executing_eagerly():
        bad = values.numpy()[~integral.numpy()]
        if bad.size:
            raise ValueError(
                f"{message} Received: {name}.shape={_shape_str(labels)} with "
                f"dtype={labels.dtype.name} and values that are not whole numbers, "
                f"such as {bad[0]!s}"
            )
    else:
        check = tf.debugging.assert_equal(
            integral, tf.ones_like(integral), message=message, summarize=3
        )
        with tf.control_dependencies([check]):
            integral = tf.identity(integral)
    ids = tf.cast(tf.where(integral, rounded, -tf.ones_like(rounded)), tf.int64)
    return ids, integral
