"""Pictures of mixed batches and of calibration.

- `plot_mix_gallery`: one batch, column by column: each image, its partner, the
  own-pixel mask with its `lam`, and the mixed image with its label shares.
- `plot_mask_comparison`: several mixers on the same images, one row each.
- `plot_reliability_diagram`: accuracy against confidence in equal-width bins,
  with the expected calibration error (ECE) in the title.

matplotlib is an optional dependency (`pip install kmix[vis]`); it is imported
when a function is called, never when kmix is imported. Figures are built on
matplotlib's Agg canvas (no window, no global pyplot state), returned, and
saved as PNG when `path` is given.
"""

import os
from collections.abc import Mapping

import numpy as np

from kmix.ops.validation import check_int
from kmix.ops.validation import is_real_scalar
from kmix.plan import MixPlan

_VIS_HINT = (
    "kmix.visualization needs matplotlib. Install it with `pip install kmix[vis]` "
    "(or `pip install matplotlib`)."
)

GALLERY_PANELS = ("images", "partners", "masks", "mixed")
_PLAN_PANELS = ("partners", "masks")


def _matplotlib():
    """Imports matplotlib lazily; a clear ImportError without it."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(_VIS_HINT) from error
    return Figure, FigureCanvasAgg


def _new_figure(figsize, dpi):
    Figure, FigureCanvasAgg = _matplotlib()
    figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _to_numpy(value, name):
    try:
        return np.asarray(value)
    except Exception as error:
        raise TypeError(
            f"`{name}` must be an array or tensor. Received: {name} of type "
            f"{type(value).__name__}"
        ) from error


def _shape_of(array):
    return "(" + ", ".join(str(d) for d in array.shape) + (",)" if array.ndim == 1 else ")")


def _save(figure, path):
    if path is None:
        return
    _check_path(path)
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")


def _check_path(path):
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"`path` must be a str or os.PathLike (a .png file). Received: path={path!r}"
        )


def _check_positive_int(value, name):
    return check_int(value, name, minimum=1)


# ----------------------------------------------------------------------------
# Galleries
# ----------------------------------------------------------------------------
def _check_gallery_images(images, name, data_format):
    array = _to_numpy(images, name)
    if array.ndim != 4:
        raise ValueError(
            f"`{name}` must be a batch of shape (B, H, W, C) (or (B, C, H, W) with "
            f"data_format='channels_first'). Received: {name}.shape={_shape_of(array)}"
        )
    if data_format == "channels_first":
        array = np.transpose(array, (0, 2, 3, 1))
    if array.shape[-1] not in (1, 3):
        raise ValueError(
            f"`{name}` must have 1 (grayscale) or 3 (RGB) channels. "
            f"Received: {name}.shape={_shape_of(array)} ({data_format})"
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(
            f"`{name}` must have a real or integer dtype. Received: {name}.dtype={array.dtype}"
        )
    return array


def _check_data_format(data_format):
    if data_format is None:
        import keras

        data_format = keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "`data_format` must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    return data_format


def _check_value_range(value_range):
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


def _display(array, value_range):
    """Scales images to [0, 1] floats for imshow."""
    array = array.astype("float32")
    if value_range is None:
        low, high = 0.0, (255.0 if array.size and array.max() > 1.0 else 1.0)
    else:
        low, high = value_range
    return np.clip((array - low) / (high - low), 0.0, 1.0)


def _class_ids(labels, batch_size, name):
    """Class ids `(B,)` from ids `(B,)`/`(B, 1)` or one-hot/soft `(B, K)` labels."""
    array = _to_numpy(labels, name)
    if array.ndim == 0 or array.shape[0] != batch_size or array.ndim > 2:
        raise ValueError(
            f"`{name}` must be class ids (B,) or (B, 1), or one-hot/soft labels (B, K), "
            f"with B = {batch_size} as the images. Received: {name}.shape={_shape_of(array)}"
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


def _check_class_names(class_names, ids, name):
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


def _check_plan(plan, batch_size, height, width):
    if not isinstance(plan, MixPlan):
        raise TypeError(
            "`plan` must be a kmix.MixPlan (e.g. from `layer.sample_plan(images)`). "
            f"Received: plan of type {type(plan).__name__}"
        )
    index = _to_numpy(plan.index, "plan.index").astype("int64").reshape(-1)
    lam = _to_numpy(plan.lam, "plan.lam").astype("float32").reshape(-1)
    mask = _to_numpy(plan.mask, "plan.mask").astype("float32")
    if index.shape[0] != batch_size or lam.shape[0] != batch_size:
        raise ValueError(
            f"`plan` must be drawn for this batch of {batch_size} images. Received: "
            f"plan.index.shape={_shape_of(index)}, plan.lam.shape={_shape_of(lam)}"
        )
    if (
        mask.ndim != 4
        or mask.shape[0] != batch_size
        or mask.shape[-1] != 1
        or mask.shape[1:3] not in ((1, 1), (height, width))
    ):
        raise ValueError(
            f"`plan.mask` must have shape ({batch_size}, {height}, {width}, 1) or "
            f"({batch_size}, 1, 1, 1). Received: plan.mask.shape={_shape_of(mask)}"
        )
    mask = np.broadcast_to(mask, (batch_size, height, width, 1))
    return index, mask[..., 0], lam


def _label_text(ids, i, class_names):
    if ids is None:
        return None
    return class_names[ids[i]] if class_names else str(ids[i])


def _check_panels(panels, has_plan, has_mixed):
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
    missing = [p for p in panels if p in _PLAN_PANELS and not has_plan]
    if missing or ("mixed" in panels and not (has_plan or has_mixed)):
        raise ValueError(
            "`panels` asks for partners, masks or mixed images, which need a `plan` "
            "(or a `mixer`; `mixed` also works with `mixed_images`). "
            f"Received: panels={tuple(panels)!r} with plan=None"
        )
    return tuple(panels)


def _check_image_figure_args(images, data_format, num_images, dpi, value_range, path):
    """The checks every image figure makes first; returns the checked values.

    Returns `(images as channels-last numpy, data_format, value_range)`.
    """
    data_format = _check_data_format(data_format)
    images_np = _check_gallery_images(images, "images", data_format)
    _check_positive_int(num_images, "num_images")
    _check_positive_int(dpi, "dpi")
    value_range = _check_value_range(value_range)
    _check_path(path)
    return images_np, data_format, value_range


def plot_mix_gallery(
    images,
    plan=None,
    labels=None,
    mixed_images=None,
    class_names=None,
    path=None,
    *,
    mixer=None,
    num_images=8,
    panels=None,
    value_range=None,
    data_format=None,
    title=None,
    figsize=None,
    dpi=100,
):
    """A gallery of a mixed batch: images, partners, masks with lambda, mixed images.

    Column `i` shows sample `i`; the rows are the `panels`, by default
    `"images"` (the sample and its label), `"partners"` (row `plan.index[i]`,
    the image it is mixed with), `"masks"` (the weight of the sample's own
    pixels, white = own, titled with `lam`) and `"mixed"` (the result, titled
    with the label shares on two lines, e.g. `"7 63%"` and `"+ 1 37%"`).

    Give a `plan` (and optionally the `mixed_images` your mixer produced from
    it), or a `mixer` whose `sample_plan` and `mix_images` are used. With a
    plan but no `mixed_images`, the images are mixed with
    `kmix.ops.mix_images` (for `ResizeMix`, which pastes a resized partner,
    pass its own `mixer.mix_images(images, plan)` or the `mixer`). With
    neither, it is a plain labelled gallery.

    Args:
        images: array or tensor `(B, H, W, C)` with 1 or 3 channels: the
            unmixed batch. Floats in `[0, 1]` or integers in `[0, 255]` unless
            `value_range` says otherwise.
        plan: optional `kmix.MixPlan` drawn for `images`.
        labels: optional class ids `(B,)` / `(B, 1)` or one-hot / soft
            labels `(B, K)` of the unmixed images.
        mixed_images: optional array `(B, H, W, C)`, the mixed batch.
        class_names: optional list of str, indexed by class id.
        path: optional str or path-like; the figure is saved there as PNG.
        mixer: optional kmix mixing layer; draws the plan and mixes the
            images when `plan` is `None`. Its seed generator advances.
        num_images: int >= 1. At most this many samples (columns) are shown.
            Defaults to `8`.
        panels: optional list of rows from `("images", "partners", "masks",
            "mixed")`. Defaults to all four with a plan, else the images (and
            the mixed images when given).
        value_range: optional `(low, high)` of the pixel values. Defaults to
            `(0, 1)`, or `(0, 255)` when the images exceed 1.
        data_format: `"channels_last"` or `"channels_first"` for `images`
            and `mixed_images`. Defaults to `keras.config.image_data_format()`.
        title: optional str, the figure title.
        figsize: optional `(width, height)` in inches. Defaults to 1.6 inches
            per panel.
        dpi: int, resolution. Defaults to `100`.

    Returns:
        A `matplotlib.figure.Figure` with one axes per panel
        (`len(panels) * min(B, num_images)`), in row-major order.

    Raises:
        ImportError: if matplotlib is not installed.
        ValueError: if a shape or argument is invalid, or a panel needs a plan
            that was not given.
        TypeError: if `plan` is not a `kmix.MixPlan`, `mixer` not a kmix
            mixing layer, or `class_names` / `path` of the wrong type.

    Example:

    ```python
    import tempfile
    import kmix

    images, labels = kmix.datasets.make_shapes_dataset(6, image_size=32, seed=0)
    mixer = kmix.layers.CutMix(seed=1)
    plan = mixer.sample_plan(images)
    path = tempfile.mkdtemp() + "/cutmix.png"
    figure = kmix.visualization.plot_mix_gallery(
        images, plan, labels=labels, class_names=kmix.datasets.SHAPE_NAMES[:4],
        mixed_images=mixer.mix_images(images, plan), path=path)
    print(len(figure.axes))  # 24
    print(figure.axes[12].get_title() == f"λ = {float(plan.lam[0]):.2f}")  # True
    ```
    """
    _matplotlib()
    images_np, data_format, value_range = _check_image_figure_args(
        images, data_format, num_images, dpi, value_range, path
    )
    batch_size, height, width, channels = images_np.shape
    if plan is not None and mixer is not None:
        raise ValueError(
            "Pass either `plan` or `mixer`, not both: the mixer would draw a new plan. "
            "Received: both"
        )
    if mixer is not None:
        from kmix.layers.base_mix_layer import BaseMixLayer

        if not isinstance(mixer, BaseMixLayer):
            raise TypeError(
                "`mixer` must be a kmix mixing layer such as kmix.layers.CutMix(). "
                f"Received: mixer of type {type(mixer).__name__}"
            )
    ids = None if labels is None else _class_ids(labels, batch_size, "labels")
    class_names = _check_class_names(class_names, ids, "labels")
    if mixed_images is not None:
        mixed_np = _check_gallery_images(mixed_images, "mixed_images", data_format)
        if mixed_np.shape != images_np.shape:
            raise ValueError(
                "`mixed_images` must have the shape of `images` "
                f"{_shape_of(images_np)}. Received: mixed_images.shape={_shape_of(mixed_np)}"
            )
    if mixer is not None:
        plan = mixer.sample_plan(images)
        if mixed_images is None:
            mixed_np = _check_gallery_images(
                mixer.mix_images(images, plan), "mixed_images", data_format
            )
    panels = _check_panels(panels, plan is not None, mixed_images is not None)
    if plan is not None:
        index, mask, lam = _check_plan(plan, batch_size, height, width)
        if mixed_images is None and mixer is None:
            from kmix.ops.mixing import mix_images as _mix

            mixed_np = _check_gallery_images(
                _mix(images, plan, data_format=data_format), "mixed_images", data_format
            )

    count = min(batch_size, num_images)
    rows = len(panels)
    height_inches = 1.75 * rows + (0.25 if "mixed" in panels else 0.0) + (0.4 if title else 0.0)
    figure = _new_figure(figsize or (1.6 * count, height_inches), dpi)
    grid = figure.subplots(rows, count, squeeze=False)
    cmap = "gray" if channels == 1 else None

    def show(ax, picture, panel_title, **kwargs):
        ax.imshow(picture, interpolation="nearest", **kwargs)
        ax.set_title(panel_title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])

    def pixels(array, i):
        picture = _display(array[i], value_range)
        return picture[..., 0] if channels == 1 else picture

    for r, panel in enumerate(panels):
        for i in range(count):
            ax = grid[r, i]
            own = _label_text(ids, i, class_names)
            if panel == "images":
                text = f"#{i}" + (f": {own}" if own is not None else "")
                show(ax, pixels(images_np, i), text, cmap=cmap, vmin=0, vmax=1)
            elif panel == "partners":
                j = int(index[i])
                other = _label_text(ids, j, class_names)
                text = f"partner #{j}" + (f": {other}" if other is not None else "")
                show(ax, pixels(images_np, j), text, cmap=cmap, vmin=0, vmax=1)
            elif panel == "masks":
                show(ax, mask[i], f"λ = {lam[i]:.2f}", cmap="gray", vmin=0, vmax=1)
            else:
                if plan is not None and lam[i] >= 1.0:
                    text = "not mixed" if own is None else f"{own} (not mixed)"
                elif plan is not None and own is not None:
                    other = _label_text(ids, int(index[i]), class_names)
                    text = f"{own} {lam[i]:.0%}\n+ {other} {1 - lam[i]:.0%}"
                elif plan is not None:
                    text = f"mixed, λ = {lam[i]:.2f}"
                else:
                    text = "mixed"
                show(ax, pixels(mixed_np, i), text, cmap=cmap, vmin=0, vmax=1)
        grid[r, 0].set_ylabel(panel, fontsize=9)
    if title:
        figure.suptitle(title)
    _save(figure, path)
    return figure


def plot_mask_comparison(
    images,
    mixers,
    path=None,
    *,
    num_images=6,
    show_mixed=True,
    value_range=None,
    data_format=None,
    title=None,
    figsize=None,
    dpi=100,
):
    """Several mixers on the same images, side by side: masks and mixed images.

    For each mixer (in the mapping's order) a row of own-pixel masks, titled
    with `lam`, and, with `show_mixed=True`, a row of the mixed images below
    it. Every mixer draws its own plan on the same batch.

    Args:
        images: array or tensor `(B, H, W, C)` with 1 or 3 channels.
        mixers: mapping `{name: mixer}` of kmix mixing layers (each draws a plan
            with `sample_plan` and mixes with its own `mix_images`) or
            `{name: kmix.MixPlan}` (mixed with `kmix.ops.mix_images`).
        path: optional str or path-like; the figure is saved there as PNG.
        num_images: int >= 1. At most this many samples (columns). Defaults
            to `6`.
        show_mixed: bool. Add a row of mixed images under each mask row.
            Defaults to `True`.
        value_range: optional `(low, high)` of the pixel values (see
            `plot_mix_gallery`).
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        title: optional str, the figure title.
        figsize: optional `(width, height)` in inches.
        dpi: int, resolution. Defaults to `100`.

    Returns:
        A `matplotlib.figure.Figure` with `len(mixers) * (2 if show_mixed else
        1) * min(B, num_images)` axes, in row-major order; the first axes of
        each row is labelled with the mixer's name.

    Raises:
        ImportError: if matplotlib is not installed.
        ValueError: if `mixers` is empty or a shape or argument is invalid.
        TypeError: if `mixers` is not a mapping of mixing layers or plans.

    Example:

    ```python
    import kmix

    images, _ = kmix.datasets.make_shapes_dataset(4, image_size=32, seed=0)
    figure = kmix.visualization.plot_mask_comparison(
        images,
        {"CutMix": kmix.layers.CutMix(seed=0), "FMix": kmix.layers.FMix(seed=0)},
        num_images=3)
    print(len(figure.axes))  # 12
    print(figure.axes[6].get_ylabel())  # FMix
    ```
    """
    _matplotlib()
    from kmix.layers.base_mix_layer import BaseMixLayer
    from kmix.ops.mixing import mix_images as _mix

    images_np, data_format, value_range = _check_image_figure_args(
        images, data_format, num_images, dpi, value_range, path
    )
    batch_size, height, width, channels = images_np.shape
    if not isinstance(mixers, Mapping):
        raise TypeError(
            "`mixers` must be a mapping {name: mixing layer or kmix.MixPlan}. "
            f"Received: mixers of type {type(mixers).__name__}"
        )
    if not mixers:
        raise ValueError(
            "`mixers` must name at least one mixing layer or plan. Received: mixers={}"
        )
    for name, mixer in mixers.items():
        if not isinstance(mixer, (BaseMixLayer, MixPlan)):
            raise TypeError(
                "`mixers` must map names to kmix mixing layers or kmix.MixPlan. "
                f"Received: mixers[{name!r}] of type {type(mixer).__name__}"
            )
    results = []
    for name, mixer in mixers.items():
        if isinstance(mixer, MixPlan):
            plan = mixer
            mixed = _mix(images, plan, data_format=data_format)
        else:
            plan = mixer.sample_plan(images)
            mixed = mixer.mix_images(images, plan)
        _, mask, lam = _check_plan(plan, batch_size, height, width)
        mixed_np = _check_gallery_images(mixed, "mixed images", data_format)
        results.append((str(name), mask, lam, mixed_np))

    count = min(batch_size, num_images)
    per_mixer = 2 if show_mixed else 1
    rows = per_mixer * len(results)
    figure = _new_figure(figsize or (1.5 * count + 0.6, 1.6 * rows + (0.4 if title else 0.0)), dpi)
    grid = figure.subplots(rows, count, squeeze=False)
    cmap = "gray" if channels == 1 else None
    for m, (name, mask, lam, mixed_np) in enumerate(results):
        for i in range(count):
            ax = grid[per_mixer * m, i]
            ax.imshow(mask[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"λ = {lam[i]:.2f}", fontsize=8)
            if show_mixed:
                picture = _display(mixed_np[i], value_range)
                below = grid[per_mixer * m + 1, i]
                below.imshow(
                    picture[..., 0] if channels == 1 else picture,
                    cmap=cmap, vmin=0, vmax=1, interpolation="nearest",
                )
        for r in range(per_mixer):
            grid[per_mixer * m + r, 0].set_ylabel(name if r == 0 else f"{name} mixed", fontsize=9)
    for ax in grid.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        figure.suptitle(title)
    _save(figure, path)
    return figure


# ----------------------------------------------------------------------------
# Reliability diagram
# ----------------------------------------------------------------------------
def _reliability_bins(labels, probabilities, num_bins):
    """Per-bin counts, accuracy and mean confidence, and the ECE.

    Equal-width bins on [0, 1]; sample `n` is in bin `b` when
    `b / num_bins < conf_n <= (b + 1) / num_bins`, `conf_n = max_k p_nk`
    (kmix's ECE convention). Empty bins have accuracy and confidence NaN.
    """
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype("float64")
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    counts = np.zeros(num_bins, "int64")
    accuracy = np.full(num_bins, np.nan)
    mean_confidence = np.full(num_bins, np.nan)
    ece = 0.0
    for b in range(num_bins):
        inside = (confidence > edges[b]) & (confidence <= edges[b + 1])
        counts[b] = int(inside.sum())
        if counts[b]:
            accuracy[b] = correct[inside].mean()
            mean_confidence[b] = confidence[inside].mean()
            ece += counts[b] / len(labels) * abs(accuracy[b] - mean_confidence[b])
    return {
        "edges": edges,
        "counts": counts,
        "accuracy": accuracy,
        "confidence": mean_confidence,
        "ece": float(ece),
    }


def _check_reliability_inputs(labels, probabilities, num_bins):
    num_bins = check_int(num_bins, "num_bins", minimum=1)
    probabilities = _to_numpy(probabilities, "probabilities").astype("float64")
    if probabilities.ndim != 2 or probabilities.shape[0] == 0 or probabilities.shape[1] < 2:
        raise ValueError(
            "`probabilities` must have shape (N, K) with N >= 1 and K >= 2. "
            f"Received: probabilities.shape={_shape_of(probabilities)}"
        )
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < 0 or probabilities.max() > 1:
        raise ValueError(
            "`probabilities` must be probabilities in [0, 1] (apply a softmax to logits "
            f"first). Received: values in [{probabilities.min():.4g}, {probabilities.max():.4g}]"
        )
    num_samples, num_classes = probabilities.shape
    labels_np = _to_numpy(labels, "labels")
    if labels_np.shape == (num_samples, num_classes) and num_classes > 1:
        ids = labels_np.argmax(axis=1)
    else:
        if labels_np.ndim == 0 or labels_np.size != num_samples or labels_np.ndim > 2:
            raise ValueError(
                f"`labels` must be class ids (N,) or one-hot labels (N, K) matching "
                f"probabilities.shape={_shape_of(probabilities)}. "
                f"Received: labels.shape={_shape_of(labels_np)}"
            )
        ids = labels_np.reshape(num_samples)
        if not np.all(np.equal(np.mod(ids, 1), 0)) or ids.min() < 0 or ids.max() >= num_classes:
            raise ValueError(
                f"`labels` of shape (N,) must be integer class ids in [0, {num_classes}). "
                f"Received: values in [{ids.min()}, {ids.max()}]"
            )
        ids = ids.astype("int64")
    return ids, probabilities


def _draw_reliability(diagram, bins, title, legend=True):
    """Accuracy bars, hatched gaps to the mean confidence and the diagonal."""
    edges, counts = bins["edges"], bins["counts"]
    width = edges[1] - edges[0]
    centres = edges[:-1] + width / 2
    filled = counts > 0
    accuracy = np.where(filled, bins["accuracy"], 0.0)
    confidence = np.where(filled, bins["confidence"], 0.0)
    diagram.bar(
        centres[filled], accuracy[filled], width=width, edgecolor="black",
        color="#4878d0", label="accuracy", align="center",
    )
    gap_low = np.minimum(accuracy, confidence)
    diagram.bar(
        centres[filled], np.abs(confidence - accuracy)[filled], bottom=gap_low[filled],
        width=width, edgecolor="#c0392b", facecolor="none", hatch="//",
        label="gap to confidence", align="center",
    )
    diagram.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    diagram.set_xlim(0, 1)
    diagram.set_ylim(0, 1)
    diagram.set_ylabel("accuracy")
    if legend:
        diagram.legend(loc="upper left", fontsize=8)
    diagram.set_title(title)


def plot_reliability_diagram(
    labels,
    probabilities,
    num_bins=15,
    path=None,
    *,
    show_histogram=True,
    title=None,
    figsize=None,
    dpi=100,
):
    """Reliability diagram: accuracy against confidence, with the ECE.

    Confidence is the maximum probability of each row and a row is correct
    when its arg-max is the label. Rows fall into `num_bins` equal-width bins
    on `[0, 1]`, row `n` into bin `b` when `lo_b < conf_n <= hi_b` (the same
    binning as kmix's expected calibration error). Bars show each bin's
    accuracy, red hatched boxes the gap to its mean confidence, the dashed
    diagonal perfect calibration; the title gives
    `ECE = sum_b (n_b / N) |acc_b - conf_b|`. An optional lower panel shows how
    many rows fall in each bin.

    Args:
        labels: class ids `(N,)` / `(N, 1)`, or one-hot labels `(N, K)`.
        probabilities: array or tensor `(N, K)` of probabilities in `[0, 1]`
            (e.g. a softmax of logits).
        num_bins: int >= 1. Number of equal-width bins. Defaults to `15`.
        path: optional str or path-like; the figure is saved there as PNG.
        show_histogram: bool. Add the panel of bin counts. Defaults to `True`.
        title: optional str, put before the ECE in the title.
        figsize: optional `(width, height)` in inches.
        dpi: int, resolution. Defaults to `100`.

    Returns:
        A `matplotlib.figure.Figure`: one axes (the diagram), or two with
        `show_histogram=True` (diagram, then counts).

    Raises:
        ImportError: if matplotlib is not installed.
        ValueError: if the shapes disagree, probabilities are outside
            `[0, 1]`, labels are out of range or `num_bins < 1`.
        TypeError: if `num_bins` is not an int or `path` not a path.

    Example:

    ```python
    import numpy as np
    import kmix

    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    labels = np.array([0, 1, 1, 1])
    figure = kmix.visualization.plot_reliability_diagram(labels, probabilities, num_bins=5)
    print(len(figure.axes))  # 2
    print(figure.axes[0].get_title())  # ECE = 0.250 (4 samples, 5 bins)
    ```
    """
    _matplotlib()
    ids, probabilities = _check_reliability_inputs(labels, probabilities, num_bins)
    _check_positive_int(dpi, "dpi")
    _check_path(path)
    bins = _reliability_bins(ids, probabilities, int(num_bins))
    edges, counts = bins["edges"], bins["counts"]
    width = edges[1] - edges[0]
    centres = edges[:-1] + width / 2

    heights = (5.0, 1.8) if show_histogram else (5.0,)
    figure = _new_figure(figsize or (5.0, sum(heights) + 0.4), dpi)
    if show_histogram:
        axes = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": heights})
        diagram, histogram = axes
    else:
        diagram = figure.subplots(1, 1)
    text = f"ECE = {bins['ece']:.3f} ({len(ids)} samples, {int(num_bins)} bins)"
    _draw_reliability(diagram, bins, f"{title}: {text}" if title else text)
    if show_histogram:
        histogram.bar(centres, counts, width=width, edgecolor="black", color="#7f7f7f")
        histogram.set_ylabel("count")
        histogram.set_xlabel("confidence (max probability)")
    else:
        diagram.set_xlabel("confidence (max probability)")
    _save(figure, path)
    return figure


def plot_reliability_diagrams(
    labels,
    probabilities,
    num_bins=15,
    path=None,
    *,
    columns=4,
    title=None,
    figsize=None,
    dpi=100,
):
    """Reliability diagrams of several models on the same labels, side by side.

    One panel per entry of `probabilities`, drawn and binned as
    `plot_reliability_diagram` (equal-width bins, `lo < conf <= hi`), titled
    with the entry's name and its ECE.

    Args:
        labels: class ids `(N,)` / `(N, 1)`, or one-hot labels `(N, K)`.
        probabilities: mapping `{name: (N, K) probabilities}`, e.g. one entry
            per training method.
        num_bins: int >= 1. Number of equal-width bins. Defaults to `15`.
        path: optional str or path-like; the figure is saved there as PNG.
        columns: int >= 1. Panels per row. Defaults to `4`.
        title: optional str, the figure title.
        figsize: optional `(width, height)` in inches.
        dpi: int, resolution. Defaults to `100`.

    Returns:
        A `matplotlib.figure.Figure` with one axes per entry, in the mapping's
        order.

    Raises:
        ImportError: if matplotlib is not installed.
        TypeError: if `probabilities` is not a non-empty mapping.
        ValueError: as `plot_reliability_diagram`, naming the entry.

    Example:

    ```python
    import numpy as np
    import kmix

    labels = np.array([0, 1, 1, 1])
    figure = kmix.visualization.plot_reliability_diagrams(
        labels,
        {"sharp": np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]),
         "flat": np.full((4, 2), 0.5)},
        num_bins=5,
    )
    print(len(figure.axes))  # 2
    print(figure.axes[0].get_title().splitlines())  # ['sharp', 'ECE = 0.250']
    ```
    """
    _matplotlib()
    if not isinstance(probabilities, Mapping) or not probabilities:
        raise TypeError(
            "`probabilities` must be a non-empty mapping {name: (N, K) probabilities}. "
            f"Received: probabilities of type {type(probabilities).__name__}"
        )
    _check_positive_int(columns, "columns")
    _check_positive_int(dpi, "dpi")
    _check_path(path)
    checked = {}
    for name, value in probabilities.items():
        try:
            checked[name] = _check_reliability_inputs(labels, value, num_bins)
        except ValueError as error:
            raise ValueError(f"In probabilities[{name!r}]: {error}") from None
    columns = min(int(columns), len(checked))
    rows = -(-len(checked) // columns)
    figure = _new_figure(figsize or (3.4 * columns, 3.4 * rows + 0.4), dpi)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for diagram, (name, (ids, value)) in zip(axes, checked.items()):
        bins = _reliability_bins(ids, value, int(num_bins))
        _draw_reliability(diagram, bins, f"{name}\nECE = {bins['ece']:.3f}", legend=False)
        diagram.set_xlabel("confidence")
    for extra in axes[len(checked):]:
        figure.delaxes(extra)
    if title:
        figure.suptitle(title)
    _save(figure, path)
    return figure


__all__ = ["plot_mask_comparison", "plot_mix_gallery", "plot_reliability_diagram", "plot_reliability_diagrams"]
