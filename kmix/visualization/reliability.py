"""Reliability diagrams: accuracy against confidence, with the ECE."""

from collections.abc import Mapping

import numpy as np

from kmix.ops.validation import check_int
from kmix.visualization.figures import require_matplotlib
from kmix.visualization.figures import new_figure
from kmix.visualization.figures import to_numpy
from kmix.visualization.figures import shape_of
from kmix.visualization.figures import save
from kmix.visualization.figures import check_path
from kmix.visualization.figures import check_positive_int


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
    probabilities = to_numpy(probabilities, "probabilities").astype("float64")
    if probabilities.ndim != 2 or probabilities.shape[0] == 0 or probabilities.shape[1] < 2:
        raise ValueError(
            "`probabilities` must have shape (N, K) with N >= 1 and K >= 2. "
            f"Received: probabilities.shape={shape_of(probabilities)}"
        )
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < 0 or probabilities.max() > 1:
        raise ValueError(
            "`probabilities` must be probabilities in [0, 1] (apply a softmax to logits "
            f"first). Received: values in [{probabilities.min():.4g}, {probabilities.max():.4g}]"
        )
    num_samples, num_classes = probabilities.shape
    labels_np = to_numpy(labels, "labels")
    if labels_np.shape == (num_samples, num_classes) and num_classes > 1:
        ids = labels_np.argmax(axis=1)
    else:
        if labels_np.ndim == 0 or labels_np.size != num_samples or labels_np.ndim > 2:
            raise ValueError(
                f"`labels` must be class ids (N,) or one-hot labels (N, K) matching "
                f"probabilities.shape={shape_of(probabilities)}. "
                f"Received: labels.shape={shape_of(labels_np)}"
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
    require_matplotlib()
    ids, probabilities = _check_reliability_inputs(labels, probabilities, num_bins)
    check_positive_int(dpi, "dpi")
    check_path(path)
    bins = _reliability_bins(ids, probabilities, int(num_bins))
    edges, counts = bins["edges"], bins["counts"]
    width = edges[1] - edges[0]
    centres = edges[:-1] + width / 2

    heights = (5.0, 1.8) if show_histogram else (5.0,)
    figure = new_figure(figsize or (5.0, sum(heights) + 0.4), dpi)
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
    save(figure, path)
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
    require_matplotlib()
    if not isinstance(probabilities, Mapping) or not probabilities:
        raise TypeError(
            "`probabilities` must be a non-empty mapping {name: (N, K) probabilities}. "
            f"Received: probabilities of type {type(probabilities).__name__}"
        )
    check_positive_int(columns, "columns")
    check_positive_int(dpi, "dpi")
    check_path(path)
    checked = {}
    for name, value in probabilities.items():
        try:
            checked[name] = _check_reliability_inputs(labels, value, num_bins)
        except ValueError as error:
            raise ValueError(f"In probabilities[{name!r}]: {error}") from None
    columns = min(int(columns), len(checked))
    rows = -(-len(checked) // columns)
    figure = new_figure(figsize or (3.4 * columns, 3.4 * rows + 0.4), dpi)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for diagram, (name, (ids, value)) in zip(axes, checked.items()):
        bins = _reliability_bins(ids, value, int(num_bins))
        _draw_reliability(diagram, bins, f"{name}\nECE = {bins['ece']:.3f}", legend=False)
        diagram.set_xlabel("confidence")
    for extra in axes[len(checked):]:
        figure.delaxes(extra)
    if title:
        figure.suptitle(title)
    save(figure, path)
    return figure
