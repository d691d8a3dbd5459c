"""Argument checks and drawing helpers of the mixing figures (galleries)."""

import numpy as np

from kmix.ops.validation import is_real_scalar
from kmix.mix_plan import MixPlan
from kmix.visualization.figures import to_numpy
from kmix.visualization.figures import shape_of
from kmix.visualization.figures import check_path
from kmix.visualization.figures import check_positive_int
from kmix.ops.validation import check_data_format as _check_data_format


GALLERY_PANELS = ("images", "partners", "masks", "mixed")
PLAN_PANELS = ("partners", "masks")


def check_gallery_images(images, name, data_format):
    array = to_numpy(images, name)
    if array.ndim != 4:
        raise ValueError(
            f"`{name}` must be a batch of shape (B, H, W, C) (or (B, C, H, W) with "
            f"data_format='channels_first'). Received: {name}.shape={shape_of(array)}"
        )
    if data_format == "channels_first":
        array = np.transpose(array, (0, 2, 3, 1))
    if array.shape[-1] not in (1, 3):
        raise ValueError(
            f"`{name}` must have 1 (grayscale) or 3 (RGB) channels. "
            f"Received: {name}.shape={shape_of(array)} ({data_format})"
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(
            f"`{name}` must have a real or integer dtype. Received: {name}.dtype={array.dtype}"
        )
    return array


def check_data_format(data_format):
    if data_format is None:
        import keras

        data_format = keras.config.image_data_format()
    _check_data_format(data_format)
    return data_format


def check_value_range(value_range):
    if value_range is None:
        return None
    if (
        not isinstance(value_range, (tuple, list))
        or len(value_range) != 2
        or not all(is_real_scalar(v) and np.isfinite(v) for v in value_range)
        or not value_range[0] < value_range[1]
    ):
        raise ValueError(
            "`value_range` must be a pair (low, high) of numbers with low < high. "
            f"Received: value_range={value_range!r}"
        )
    return tuple(float(v) for v in value_range)


def display(array, value_range):
    """Scales images to [0, 1] floats for imshow."""
    array = array.astype("float32")
    if value_range is None:
        low, high = 0.0, (255.0 if array.size and array.max() > 1.0 else 1.0)
    else:
        low, high = value_range
    return np.clip((array - low) / (high - low), 0.0, 1.0)


def class_ids(labels, batch_size, name):
    """Class ids `(B,)` from ids `(B,)`/`(B, 1)` or one-hot/soft `(B, K)` labels."""
    array = to_numpy(labels, name)
    if array.ndim == 0 or array.shape[0] != batch_size or array.ndim > 2:
        raise ValueError(
            f"`{name}` must be class ids (B,) or (B, 1), or one-hot/soft labels (B, K), "
            f"with B = {batch_size} as the images. Received: {name}.shape={shape_of(array)}"
        )
    if array.ndim == 2 and array.shape[1] > 1:
        return np.argmax(array, axis=1)
    ids = array.reshape(batch_size)
    if not np.issubdtype(ids.dtype, np.integer):
        if not np.all(np.equal(np.mod(ids, 1), 0)):
            raise ValueError(
                f"`{name}` of shape (B,) must hold integer class ids. "
                f"Received: non-integer values in {name}"
            )
        ids = ids.astype("int64")
    return ids


def check_class_names(class_names, ids, name):
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, (list, tuple)):
        raise TypeError(
            "`class_names` must be a list or tuple of str, one per class. "
            f"Received: class_names={class_names!r}"
        )
    if ids is not None and ids.size and (ids.min() < 0 or ids.max() >= len(class_names)):
        raise ValueError(
            f"`class_names` must name every class in `{name}`: ids run from {ids.min()} "
            f"to {ids.max()}. Received: {len(class_names)} class_names"
        )
    return [str(c) for c in class_names]


def check_plan(plan, batch_size, height, width):
    if not isinstance(plan, MixPlan):
        raise TypeError(
            "`plan` must be a kmix.MixPlan (e.g. from `layer.sample_plan(images)`). "
            f"Received: plan of type {type(plan).__name__}"
        )
    index = to_numpy(plan.index, "plan.index").astype("int64").reshape(-1)
    lam = to_numpy(plan.lam, "plan.lam").astype("float32").reshape(-1)
    mask = to_numpy(plan.mask, "plan.mask").astype("float32")
    if index.shape[0] != batch_size or lam.shape[0] != batch_size:
        raise ValueError(
            f"`plan` must be drawn for this batch of {batch_size} images. Received: "
            f"plan.index.shape={shape_of(index)}, plan.lam.shape={shape_of(lam)}"
        )
    if (
        mask.ndim != 4
        or mask.shape[0] != batch_size
        or mask.shape[-1] != 1
        or mask.shape[1:3] not in ((1, 1), (height, width))
    ):
        raise ValueError(
            f"`plan.mask` must have shape ({batch_size}, {height}, {width}, 1) or "
            f"({batch_size}, 1, 1, 1). Received: plan.mask.shape={shape_of(mask)}"
        )
    mask = np.broadcast_to(mask, (batch_size, height, width, 1))
    return index, mask[..., 0], lam


def label_text(ids, i, class_names):
    if ids is None:
        return None
    return class_names[ids[i]] if class_names else str(ids[i])


def check_panels(panels, has_plan, has_mixed):
    if panels is None:
        if has_plan:
            return GALLERY_PANELS
        return ("images", "mixed") if has_mixed else ("images",)
    if isinstance(panels, str) or not isinstance(panels, (list, tuple)) or not panels:
        raise ValueError(
            f"`panels` must be a non-empty list of names from {GALLERY_PANELS}. "
            f"Received: panels={panels!r}"
        )
    unknown = [p for p in panels if p not in GALLERY_PANELS]
    if unknown:
        raise ValueError(
            f"`panels` must be a non-empty list of names from {GALLERY_PANELS}. "
            f"Received: panels={tuple(panels)!r}"
        )
    missing = [p for p in panels if p in PLAN_PANELS and not has_plan]
    if missing or ("mixed" in panels and not (has_plan or has_mixed)):
        raise ValueError(
            "`panels` asks for partners, masks or mixed images, which need a `plan` "
            "(or a `mixer`; `mixed` also works with `mixed_images`). "
            f"Received: panels={tuple(panels)!r} with plan=None"
        )
    return tuple(panels)


def check_image_figure_args(images, data_format, num_images, dpi, value_range, path):
    """The checks every image figure makes first; returns the checked values.

    Returns `(images as channels-last numpy, data_format, value_range)`.
    """
    data_format = check_data_format(data_format)
    images_np = check_gallery_images(images, "images", data_format)
    check_positive_int(num_images, "num_images")
    check_positive_int(dpi, "dpi")
    value_range = check_value_range(value_range)
    check_path(path)
    return images_np, data_format, value_range
