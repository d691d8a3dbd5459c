"""Applying a `MixPlan` to images and labels; measuring lambda from a mask."""

import numpy as np
import tensorflow as tf

from kmix.ops.kernels import blend_values
from kmix.ops.kernels import channels_mask
from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_label_smoothing
from kmix.ops.validation import check_num_classes
from kmix.ops.validation import float_class_ids
from kmix.mix_plan import MixPlan
from kmix.ops.validation import check_data_format


def lam_from_mask(mask):
    """The weight of each row's own label: the spatial mean of its own-pixel mask.

    This is the only place where kmix turns a mask into a label weight, so no
    mixer can produce a lambda that disagrees with the pixels it pasted.

    Args:
        mask: float tensor `(B, H, W, 1)` or `(B, 1, 1, 1)`.

    Returns:
        float32 tensor `(B,)`.
    """
    mask = tf.cast(mask, tf.float32)
    return tf.reduce_mean(mask, axis=[1, 2, 3])


def blend(images, partner_images, mask, data_format="channels_last"):
    """`mask * images + (1 - mask) * partner_images`, computed in float32.

    Returns the images' floating dtype (float32 for integer images).
    """
    out_dtype = images.dtype if images.dtype.is_floating else tf.float32
    return blend_values(
        images, partner_images, tf.cast(mask, tf.float32), out_dtype,
        channels_first=data_format == "channels_first",
    )


def mix_images(images, plan, data_format="channels_last"):
    """Mixes a batch of images with a plan.

    `mixed = mask * images + (1 - mask) * take(images, index)`.

    Args:
        images: tensor `(B, H, W, C)` (or `(B, C, H, W)` with
            `data_format="channels_first"`), any real or integer dtype.
        plan: a `kmix.MixPlan` for this batch.
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Returns:
        The mixed images, `(B, H, W, C)`, in the images' floating dtype
        (float32 for integer images).

    Example:

    ```python
    import tensorflow as tf
    import kmix

    images = tf.random.uniform((4, 8, 8, 3))
    plan = kmix.MixPlan(tf.constant([1, 2, 3, 0]), tf.fill([4, 1, 1, 1], 0.7),
                        tf.fill([4], 0.7))
    print(kmix.ops.mix_images(images, plan).shape)  # (4, 8, 8, 3)
    ```
    """
    check_data_format(data_format)
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(
            "`images` must have rank 4. "
            f"Received: images.shape={_shape_str(images)}"
        )
    return blend(images, tf.gather(images, plan.index), plan.mask, data_format)


def one_hot_labels(labels, num_classes=None, label_smoothing=0.0, name="labels"):
    """Turns class ids or soft labels into float32 `(B, K)` targets.

    Args:
        labels: integer class ids `(B,)` / `(B, 1)` (needs `num_classes`), or
            one-hot / soft labels `(B, K)`. Float labels of shape `(B,)` or
            `(B, 1)` are read as class ids (Keras losses cast ids to float)
            and must hold whole numbers.
        num_classes: int, the number of classes `K`. Required for class ids.
        label_smoothing: float in [0, 1). Targets become
            `(1 - label_smoothing) * y + label_smoothing / K`.

    Returns:
        float32 tensor `(B, K)`.

    Raises:
        ValueError: integer labels without `num_classes`; class ids outside
            `[0, num_classes)` or float class ids that are not whole numbers
            (e.g. 0.3) (checked eagerly; in a graph an assertion fails at run
            time, and under XLA, where assertions are dropped, the row is set
            to NaN so that the loss shows it); soft labels whose width is not
            `num_classes`.
    """
    check_num_classes(num_classes)
    check_label_smoothing(label_smoothing)
    labels = tf.convert_to_tensor(labels)
    rank = labels.shape.rank
    if rank is None:
        raise ValueError(
            f"`{name}` must have a known rank: (B,), (B, 1) or (B, K). "
            f"Received: {name} of unknown rank"
        )
    is_int = labels.dtype.is_integer
    width = labels.shape[-1] if rank >= 1 else None
    as_ids = is_int or rank == 1 or (rank == 2 and width == 1 and num_classes != 1)
    if rank not in (1, 2):
        raise ValueError(
            f"`{name}` must be class ids (B,) / (B, 1) or soft labels (B, K). "
            f"Received: {name}.shape={_shape_str(labels)}"
        )
    if as_ids:
        if rank == 2 and width != 1:
            raise ValueError(
                f"Integer `{name}` must be class ids of shape (B,) or (B, 1). "
                f"Received: {name}.shape={_shape_str(labels)} with "
                f"dtype={labels.dtype.name}"
            )
        if num_classes is None:
            raise ValueError(
                f"Class-id `{name}` need `num_classes` to be one-hot encoded. "
                f"Pass `num_classes=K`, or give one-hot labels of shape (B, K). "
                f"Received: {name}.shape={_shape_str(labels)} with "
                f"dtype={labels.dtype.name} and num_classes=None"
            )
        ids = tf.reshape(labels, [-1])
        integral = None
        if not is_int:
            # Float ids must be whole numbers (Keras casts integer ids to
            # float before calling a loss); anything else is refused, never
            # silently rounded.
            # Other values become -1 (their rows are NaN below).
            ids, integral = float_class_ids(ids, labels, name)
        ids = tf.cast(ids, tf.int32)
        with tf.control_dependencies(_check_ids_in_range(ids, num_classes, name)):
            ids = tf.identity(ids)
        valid = (ids >= 0) & (ids < num_classes)
        if integral is not None:
            valid = valid & integral
        y = tf.one_hot(ids, num_classes, dtype=tf.float32)
        # Never a silent wrong target: under XLA (no assertions) a bad id
        # turns its row into NaN instead of an all-zero row.
        y = tf.where(valid[:, None], y, tf.fill(tf.shape(y), np.float32(np.nan)))
        k = num_classes
    else:
        if num_classes is not None and width is not None and width != num_classes:
            raise ValueError(
                f"Soft `{name}` must have shape (B, num_classes)=(B, {num_classes}). "
                f"Received: {name}.shape={_shape_str(labels)}"
            )
        y = tf.cast(labels, tf.float32)
        k = width if width is not None else tf.cast(tf.shape(labels)[-1], tf.float32)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + label_smoothing / tf.cast(k, tf.float32)
    return y


def _check_ids_in_range(ids, num_classes, name):
    message = f"`{name}` class ids must be in [0, num_classes)=[0, {num_classes})."
    if tf.executing_eagerly():
        values = ids.numpy()
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{message} Received: {name} with min={values.min()} and "
                f"max={values.max()}"
            )
        return []
    # In a graph the assertion fails at run time; XLA drops assertions, which
    # is why the caller also turns rows with bad ids into NaN.
    return [
        tf.debugging.assert_non_negative(ids, message=message),
        tf.debugging.assert_less(ids, num_classes, message=message),
    ]


def mix_labels(labels, plan, num_classes=None, label_smoothing=0.0):
    """Mixes labels with a plan: `lam * y + (1 - lam) * take(y, index)`.

    Label smoothing is applied to both one-hot rows first, as timm does.

    Args:
        labels: class ids `(B,)` / `(B, 1)` (with `num_classes`) or one-hot /
            soft labels `(B, K)`.
        plan: a `kmix.MixPlan`.
        num_classes: int. Required for class ids; checked against soft labels.
        label_smoothing: float in [0, 1).

    Returns:
        float32 tensor `(B, K)`; every row sums to 1 when the inputs do.

    Example:

    ```python
    import tensorflow as tf
    import kmix

    plan = kmix.MixPlan(tf.constant([1, 0]), tf.ones([2, 1, 1, 1]),
                        tf.constant([0.75, 0.25]))
    y = kmix.ops.mix_labels(tf.constant([0, 2]), plan, num_classes=3)
    print(y.numpy().round(2).tolist())  # [[0.75, 0.0, 0.25], [0.75, 0.0, 0.25]]
    ```
    """
    return mix_soft_labels(one_hot_labels(labels, num_classes, label_smoothing), plan)


def blend_rows(own, partner, lam):
    """`lam * own + (1 - lam) * partner` with one weight per row, for any rank `(B, ...)`.

    The one row blend of kmix's labels, regression targets, hidden states and
    feature batches (images go through `kmix.ops.kernels`). `lam` `(B,)` is
    cast to `own`'s dtype.
    """
    lam = tf.cast(tf.reshape(lam, [-1] + [1] * (own.shape.rank - 1)), own.dtype)
    return lam * own + (1 - lam) * partner


def mix_soft_labels(targets, plan):
    """`lam * targets + (1 - lam) * take(targets, index)` for float32 targets.

    Soft labels `(B, K)`, or regression targets `(B,)` / `(B, D)`.
    """
    return blend_rows(targets, tf.gather(targets, plan.index), tf.cast(plan.lam, tf.float32))


def regression_targets(targets):
    """Checks regression targets `(B,)` or `(B, D)` and returns them as float32.

    They are never read as class ids (a mixer with `label_mode="regression"`).
    """
    targets = tf.convert_to_tensor(targets)
    if targets.shape.rank not in (1, 2) or not (targets.dtype.is_floating or targets.dtype.is_integer):
        raise ValueError(
            "Regression targets must be real numbers of shape (B,) or (B, D). "
            f"Received: labels.shape={tuple(targets.shape)} with dtype={targets.dtype.name}"
        )
    return tf.cast(targets, tf.float32)


def mix_segmentation_masks(masks, partner_masks, mask, data_format="channels_last"):
    """Mixes segmentation masks with the images' pixel mask, keeping their dtype.

    Floating masks (e.g. one-hot channels) are blended like images; integer
    masks (class ids) take, per pixel, the source with the larger weight (the
    own pixel on a tie).
    """
    if masks.dtype.is_floating:
        m = channels_mask(tf.cast(mask, masks.dtype), data_format == "channels_first") if masks.shape.rank == 4 else tf.cast(mask[..., 0], masks.dtype)
        return partner_masks + m * (masks - partner_masks)
    m = mask if masks.shape.rank == 4 else mask[..., 0]
    if masks.shape.rank == 4:
        m = channels_mask(m, data_format == "channels_first")
    return tf.where(m >= 0.5, masks, partner_masks)


__all__ = [
    "lam_from_mask",
    "mix_images",
    "mix_labels",
    "mix_soft_labels",
    "one_hot_labels",
    "blend",
    "mix_segmentation_masks",
    "MixPlan",
]
