"""A detection batch with its boxes drawn: what a box-mixing layer gave."""

import numpy as np
import tensorflow as tf

from kmix.ops.boxes import check_bounding_boxes
from kmix.visualization.checks import check_image_figure_args
from kmix.visualization.checks import display
from kmix.visualization.figures import new_figure
from kmix.visualization.figures import require_matplotlib
from kmix.visualization.figures import save


def _box_rows(bounding_boxes, batch_size):
    """Per image, a list of `(box, label)` with padding (-1 labels) left out."""
    checked = check_bounding_boxes(bounding_boxes, batch_size, "plot_bounding_boxes")
    boxes, labels = checked["boxes"], checked["labels"]
    if isinstance(boxes, tf.RaggedTensor):
        boxes, labels = boxes.to_list(), labels.to_list()
    else:
        boxes, labels = boxes.numpy(), labels.numpy()
    return [
        [(np.asarray(b, np.float32), l) for b, l in zip(bs, ls) if l != -1]
        for bs, ls in zip(boxes, labels)
    ]


def plot_bounding_boxes(
    images,
    bounding_boxes,
    bounding_box_format,
    path=None,
    *,
    num_images=8,
    class_names=None,
    value_range=None,
    data_format=None,
    title=None,
    figsize=None,
    dpi=100,
):
    """A batch of images with their boxes drawn and labelled, one panel per image.

    Args:
        images: array or tensor `(B, H, W, C)` with 1 or 3 channels.
        bounding_boxes: `{"boxes": (B, N, 4), "labels": (B, N)}`, padded with
            -1 (left out) or ragged, as kmix's box-mixing layers return them.
        bounding_box_format: one of Keras's box formats (`"xyxy"`, `"yxyx"`,
            `"xywh"`, `"center_xywh"`, `"center_yxhw"` and `"rel_"` forms).
        path: optional str or path-like; the figure is saved there as PNG.
        num_images: int >= 1. At most this many images. Defaults to `8`.
        class_names: optional sequence: box label `k` is written as
            `class_names[k]`.
        value_range: optional `(low, high)` of the pixel values.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        title: optional str, the figure title.
        figsize: optional `(width, height)` in inches.
        dpi: int, resolution. Defaults to `100`.

    Returns:
        A `matplotlib.figure.Figure` with one axes per image shown; each holds
        one rectangle patch per box that is not padding.

    Example:

    ```python
    import numpy as np
    import kmix

    images = np.random.rand(4, 32, 32, 3).astype("float32")
    boxes = {"boxes": np.tile([[[4.0, 4.0, 20.0, 16.0]]], (4, 1, 1)),
             "labels": np.zeros((4, 1), "int32")}
    out = kmix.layers.CutMix(num_classes=2, bounding_box_format="xyxy", seed=0)(
        {"images": images, "labels": np.arange(4) % 2, "bounding_boxes": boxes})
    figure = kmix.visualization.plot_bounding_boxes(
        out["images"], out["bounding_boxes"], "xyxy", class_names=["cat"])
    print(len(figure.axes))  # 4
    ```
    """
    require_matplotlib()
    from matplotlib.patches import Rectangle

    from kmix.ops.box_formats import check_box_format
    from kmix.ops.box_formats import to_xyxy

    images_np, data_format, value_range = check_image_figure_args(
        images, data_format, num_images, dpi, value_range, path
    )
    fmt = check_box_format(bounding_box_format, "plot_bounding_boxes", allow_none=False)
    batch_size, height, width, channels = images_np.shape
    rows = _box_rows(bounding_boxes, batch_size)
    count = min(batch_size, num_images)
    columns = min(count, 4)
    grid_rows = -(-count // columns)
    figure = new_figure(figsize or (2.2 * columns, 2.3 * grid_rows + (0.4 if title else 0.0)), dpi)
    grid = figure.subplots(grid_rows, columns, squeeze=False)
    cmap = "gray" if channels == 1 else None
    colors = ("gold", "cyan", "magenta", "white", "orange", "lime")
    for k, axes in enumerate(grid.ravel()):
        if k >= count:
            figure.delaxes(axes)
            continue
        image = display(images_np[k], value_range)
        axes.imshow(image[..., 0] if channels == 1 else image, cmap=cmap)
        axes.set_xticks([])
        axes.set_yticks([])
        if rows[k]:
            xyxy = to_xyxy(np.stack([b for b, _ in rows[k]]), fmt, height, width).numpy()
            for (x1, y1, x2, y2), (_, label) in zip(xyxy, rows[k]):
                label = int(label)
                color = colors[label % len(colors)]
                # Pixel (i, j) is drawn centred on (j, i): box edges at -0.5.
                axes.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, color=color, linewidth=1.5))
                name = class_names[label] if class_names is not None and 0 <= label < len(class_names) else str(label)
                axes.text(x1 - 0.5, y1 - 0.5, name, color="black", fontsize=7, va="bottom",
                          bbox={"facecolor": color, "edgecolor": "none", "pad": 1})
        axes.set_xlim(-0.5, width - 0.5)
        axes.set_ylim(height - 0.5, -0.5)
    if title:
        figure.suptitle(title)
    save(figure, path)
    return figure
