"""Figures on matplotlib's Agg canvas: lazy import, creation, saving, shared checks."""

import os

import numpy as np

from kmix.ops.validation import check_int


VIS_HINT = (
    "kmix.visualization needs matplotlib. Install it with `pip install kmix[vis]` "
    "(or `pip install matplotlib`)."
)



def require_matplotlib():
    """Imports matplotlib lazily; a clear ImportError without it."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(VIS_HINT) from error
    return Figure, FigureCanvasAgg


def new_figure(figsize, dpi):
    Figure, FigureCanvasAgg = require_matplotlib()
    figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def to_numpy(value, name):
    try:
        return np.asarray(value)
    except Exception as error:
        raise TypeError(
            f"`{name}` must be an array or tensor. Received: {name} of type "
            f"{type(value).__name__}"
        ) from error


def shape_of(array):
    return "(" + ", ".join(str(d) for d in array.shape) + (",)" if array.ndim == 1 else ")")


def save(figure, path):
    if path is None:
        return
    check_path(path)
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")


def check_path(path):
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"`path` must be a str or os.PathLike (a .png file). Received: path={path!r}"
        )


def check_positive_int(value, name):
    return check_int(value, name, minimum=1)


# ----------------------------------------------------------------------------
# Galleries
# ----------------------------------------------------------------------------
