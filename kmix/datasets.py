"""Small offline image datasets for examples, docs and tests.

Nothing here downloads: `load_digits` reads the 8x8 handwritten digits that ship
inside scikit-learn, and `make_shapes_dataset` draws coloured shapes with NumPy.
"""

import numpy as np

from kmix.ops.validation import check_float
from kmix.ops.validation import check_int
from kmix.ops.validation import check_seed

SHAPE_NAMES = ("circle", "square", "triangle", "cross", "ring", "diamond")

_DIGITS_HINT = (
    "kmix.datasets.load_digits reads scikit-learn's bundled digits; install it with "
    "`pip install kmix[datasets]` (or `pip install scikit-learn`)."
)


def _resize_bilinear(images, size):
    """Bilinear (half-pixel centres) resize of `(N, h, w)` float images to `size`."""
    n, h, w = images.shape

    def coords(src, dst):
        x = (np.arange(dst, dtype="float64") + 0.5) * (src / dst) - 0.5
        x = np.clip(x, 0.0, src - 1.0)
        lo = np.floor(x).astype("int64")
        hi = np.minimum(lo + 1, src - 1)
        return lo, hi, (x - lo).astype("float32")

    y0, y1, wy = coords(h, size)
    x0, x1, wx = coords(w, size)
    top = images[:, y0][:, :, x0] * (1 - wx) + images[:, y0][:, :, x1] * wx
    bottom = images[:, y1][:, :, x0] * (1 - wx) + images[:, y1][:, :, x1] * wx
    return (top * (1 - wy)[None, :, None] + bottom * wy[None, :, None]).astype("float32")


def load_digits(image_size=32, test_fraction=0.25, seed=0):
    """scikit-learn's bundled handwritten digits as float32 images, split in two.

    1797 grayscale digits of 8x8 pixels (10 classes), scaled to `[0, 1]` and
    resized bilinearly to `image_size x image_size`. No download: the data ship
    inside scikit-learn.

    Args:
        image_size: int >= 8. Side of the returned images. Defaults to `32`.
        test_fraction: float in [0, 1). Share of the images held out, chosen by
            a seeded permutation. Defaults to `0.25`.
        seed: int or `None`. Seeds the train/test permutation. Defaults to `0`.

    Returns:
        `((train_images, train_labels), (test_images, test_labels))`: images
        float32 `(N, image_size, image_size, 1)` in `[0, 1]`, labels int32 `(N,)`.

    Raises:
        ImportError: if scikit-learn is not installed.
        TypeError: if `image_size` or `seed` is not an int.
        ValueError: if `image_size < 8` or `test_fraction` is outside [0, 1).

    Example:

    ```python
    import kmix

    (x_train, y_train), (x_test, y_test) = kmix.datasets.load_digits(image_size=16)
    print(x_train.shape, x_test.shape)  # (1348, 16, 16, 1) (449, 16, 16, 1)
    ```
    """
    image_size = check_int(image_size, "image_size", 8, type_expected="an int")
    test_fraction = check_float(test_fraction, "test_fraction", 0, 1, max_inclusive=False)
    seed = check_seed(seed)
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as error:
        raise ImportError(_DIGITS_HINT) from error
    digits = sk_load_digits()
    images = digits.images.astype("float32") / 16.0
    if image_size != 8:
        images = _resize_bilinear(images, image_size)
    images = np.clip(images, 0.0, 1.0)[..., None]
    labels = digits.target.astype("int32")
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(len(labels) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


def _shape_mask(kind, yy, xx, cy, cx, radius):
    """Boolean mask of one shape centred at `(cy, cx)` with half-size `radius`."""
    dy, dx = yy - cy, xx - cx
    if kind == "circle":
        return dy**2 + dx**2 <= radius**2
    if kind == "square":
        return (np.abs(dy) <= radius * 0.85) & (np.abs(dx) <= radius * 0.85)
    if kind == "triangle":
        # Apex up; the base at cy + radius.
        return (dy <= radius * 0.8) & (np.abs(dx) * 2 <= dy + radius)
    if kind == "cross":
        arm = radius * 0.35
        inside = (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
        return inside & ((np.abs(dy) <= arm) | (np.abs(dx) <= arm))
    if kind == "ring":
        r2 = dy**2 + dx**2
        return (r2 <= radius**2) & (r2 >= (radius * 0.55) ** 2)
    # diamond
    return np.abs(dy) + np.abs(dx) <= radius


def make_shapes_dataset(num_samples, image_size=32, num_classes=4, seed=0):
    """Coloured geometric shapes on noisy backgrounds, drawn with NumPy (offline).

    Class `k` is the shape `SHAPE_NAMES[k]` (`"circle"`, `"square"`,
    `"triangle"`, `"cross"`, `"ring"`, `"diamond"`), drawn in a random bright
    colour, size and position on a dark random background. Classes are
    balanced (`label_i = i % num_classes`, then shuffled). Handy for looking at
    mixed images: which pixels came from which image is easy to see.

    Args:
        num_samples: int >= 1. Number of images.
        image_size: int >= 8. Image side. Defaults to `32`.
        num_classes: int in [2, 6]. Number of shape classes. Defaults to `4`.
        seed: int or `None`. Seeds every random choice. Defaults to `0`.

    Returns:
        `(images, labels)`: images float32 `(num_samples, image_size,
        image_size, 3)` in `[0, 1]`, labels int32 `(num_samples,)`.

    Raises:
        TypeError: if an argument is not an int.
        ValueError: if an argument is out of range.

    Example:

    ```python
    import kmix

    images, labels = kmix.datasets.make_shapes_dataset(8, image_size=32, num_classes=4, seed=0)
    print(images.shape, images.dtype, labels.shape)  # (8, 32, 32, 3) float32 (8,)
    ```
    """
    num_samples = check_int(num_samples, "num_samples", 1, type_expected="an int")
    image_size = check_int(image_size, "image_size", 8, type_expected="an int")
    num_classes = check_int(num_classes, "num_classes", 2, len(SHAPE_NAMES), type_expected="an int")
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_samples) % num_classes).astype("int32")
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype("float32") + 0.5
    images = np.empty((num_samples, image_size, image_size, 3), "float32")
    for i, label in enumerate(labels):
        background = rng.uniform(0.0, 0.35, size=3).astype("float32")
        noise = rng.normal(0.0, 0.04, size=(image_size, image_size, 3))
        image = background + noise.astype("float32")
        radius = rng.uniform(0.22, 0.38) * image_size
        cy, cx = rng.uniform(radius, image_size - radius, size=2)
        colour = rng.uniform(0.55, 1.0, size=3).astype("float32")
        colour[rng.integers(3)] = rng.uniform(0.0, 0.3)
        inside = _shape_mask(SHAPE_NAMES[label], yy, xx, cy, cx, radius)
        image[inside] = colour
        images[i] = np.clip(image, 0.0, 1.0)
    return images, labels


__all__ = ["SHAPE_NAMES", "load_digits", "make_shapes_dataset"]
