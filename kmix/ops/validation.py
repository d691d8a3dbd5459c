"""Input checks shared by ops, layers and losses.

Every check raises before any work, with a message that names the argument, the
expected form and what was received (shapes and dtypes, never tensor values).
"""

import tensorflow as tf


def _shape_str(x):
    return str(tuple(x.shape.as_list())) if x.shape.rank is not None else "<unknown>"


def check_probability(value, name):
    """Raises ValueError unless `value` is a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float in [0, 1]. Received: {name}={value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1]. Received: {name}={value}")


def check_positive(value, name):
    """Raises ValueError unless `value` is a number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float > 0. Received: {name}={value!r}")
    if not value > 0:
        raise ValueError(f"`{name}` must be a float > 0. Received: {name}={value}")


def check_num_classes(num_classes):
    """Raises unless `num_classes` is None or an int >= 1."""
    if num_classes is None:
        return
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(
            "`num_classes` must be None or an int >= 1. "
            f"Received: num_classes={num_classes!r}"
        )
    if num_classes < 1:
        raise ValueError(
            f"`num_classes` must be an int >= 1. Received: num_classes={num_classes}"
        )


def check_label_smoothing(label_smoothing):
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)):
        raise TypeError(
            "`label_smoothing` must be a float in [0, 1). "
            f"Received: label_smoothing={label_smoothing!r}"
        )
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(
            "`label_smoothing` must be a float in [0, 1). "
            f"Received: label_smoothing={label_smoothing}"
        )


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
