"""Galleries of mixed batches: `plot_mix_gallery`, `plot_mask_comparison`."""

from collections.abc import Mapping

from kmix.mix_plan import MixPlan
from kmix.visualization.figures import require_matplotlib
from kmix.visualization.figures import new_figure
from kmix.visualization.figures import shape_of
from kmix.visualization.figures import save
from kmix.visualization.checks import check_gallery_images
from kmix.visualization.checks import display
from kmix.visualization.checks import class_ids
from kmix.visualization.checks import check_class_names
from kmix.visualization.checks import check_plan
from kmix.visualization.checks import label_text
from kmix.visualization.checks import check_panels
from kmix.visualization.checks import check_image_figure_args


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
    require_matplotlib()
    images_np, data_format, value_range = check_image_figure_args(
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
    ids = None if labels is None else class_ids(labels, batch_size, "labels")
    class_names = check_class_names(class_names, ids, "labels")
    if mixed_images is not None:
        mixed_np = check_gallery_images(mixed_images, "mixed_images", data_format)
        if mixed_np.shape != images_np.shape:
            raise ValueError(
                "`mixed_images` must have the shape of `images` "
                f"{shape_of(images_np)}. Received: mixed_images.shape={shape_of(mixed_np)}"
            )
    if mixer is not None:
        plan = mixer.sample_plan(images)
        if mixed_images is None:
            mixed_np = check_gallery_images(
                mixer.mix_images(images, plan), "mixed_images", data_format
            )
    panels = check_panels(panels, plan is not None, mixed_images is not None)
    if plan is not None:
        index, mask, lam = check_plan(plan, batch_size, height, width)
        if mixed_images is None and mixer is None:
            from kmix.ops.mixing import mix_images as _mix

            mixed_np = check_gallery_images(
                _mix(images, plan, data_format=data_format), "mixed_images", data_format
            )

    count = min(batch_size, num_images)
    rows = len(panels)
    height_inches = 1.75 * rows + (0.25 if "mixed" in panels else 0.0) + (0.4 if title else 0.0)
    figure = new_figure(figsize or (1.6 * count, height_inches), dpi)
    grid = figure.subplots(rows, count, squeeze=False)
    cmap = "gray" if channels == 1 else None

    def show(ax, picture, panel_title, **kwargs):
        ax.imshow(picture, interpolation="nearest", **kwargs)
        ax.set_title(panel_title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])

    def pixels(array, i):
        picture = display(array[i], value_range)
        return picture[..., 0] if channels == 1 else picture

    for r, panel in enumerate(panels):
        for i in range(count):
            ax = grid[r, i]
            own = label_text(ids, i, class_names)
            if panel == "images":
                text = f"#{i}" + (f": {own}" if own is not None else "")
                show(ax, pixels(images_np, i), text, cmap=cmap, vmin=0, vmax=1)
            elif panel == "partners":
                j = int(index[i])
                other = label_text(ids, j, class_names)
                text = f"partner #{j}" + (f": {other}" if other is not None else "")
                show(ax, pixels(images_np, j), text, cmap=cmap, vmin=0, vmax=1)
            elif panel == "masks":
                show(ax, mask[i], f"λ = {lam[i]:.2f}", cmap="gray", vmin=0, vmax=1)
            else:
                if plan is not None and lam[i] >= 1.0:
                    text = "not mixed" if own is None else f"{own} (not mixed)"
                elif plan is not None and own is not None:
                    other = label_text(ids, int(index[i]), class_names)
                    text = f"{own} {lam[i]:.0%}\n+ {other} {1 - lam[i]:.0%}"
                elif plan is not None:
                    text = f"mixed, λ = {lam[i]:.2f}"
                else:
                    text = "mixed"
                show(ax, pixels(mixed_np, i), text, cmap=cmap, vmin=0, vmax=1)
        grid[r, 0].set_ylabel(panel, fontsize=9)
    if title:
        figure.suptitle(title)
    save(figure, path)
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
    require_matplotlib()
    from kmix.layers.base_mix_layer import BaseMixLayer
    from kmix.ops.mixing import mix_images as _mix

    images_np, data_format, value_range = check_image_figure_args(
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
        _, mask, lam = check_plan(plan, batch_size, height, width)
        mixed_np = check_gallery_images(mixed, "mixed images", data_format)
        results.append((str(name), mask, lam, mixed_np))

    count = min(batch_size, num_images)
    per_mixer = 2 if show_mixed else 1
    rows = per_mixer * len(results)
    figure = new_figure(figsize or (1.5 * count + 0.6, 1.6 * rows + (0.4 if title else 0.0)), dpi)
    grid = figure.subplots(rows, count, squeeze=False)
    cmap = "gray" if channels == 1 else None
    for m, (name, mask, lam, mixed_np) in enumerate(results):
        for i in range(count):
            ax = grid[per_mixer * m, i]
            ax.imshow(mask[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"λ = {lam[i]:.2f}", fontsize=8)
            if show_mixed:
                picture = display(mixed_np[i], value_range)
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
    save(figure, path)
    return figure


# ----------------------------------------------------------------------------
# Reliability diagram
# ----------------------------------------------------------------------------
