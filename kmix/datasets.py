"""Small offline datasets, and C-Mixup's samplers for `tf.data`.

Nothing here downloads: `load_digits` reads the 8x8 handwritten digits that ship
inside scikit-learn, and `make_shapes_dataset` draws coloured shapes with NumPy.
`c_mixup_pairs` (the official dataset-level sampler, for data that fits in
memory) and `c_mixup_batches` (the official batch-level pool) mix regression
datasets as C-Mixup does.
"""

import numpy as np
import tensorflow as tf

from kmix.ops.label_distance import check_kernel
from kmix.ops.label_distance import label_distance_logits
from kmix.ops.label_distance import sample_c_mixup_partners
from kmix.ops.label_distance import standardize_labels
from kmix.ops.mixing import blend_rows
from kmix.ops.sampling import sample_beta

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


def _blend(lam, own, partner):
    return blend_rows(tf.cast(own, tf.float32), tf.cast(partner, tf.float32), lam)


def _check_c_mixup_args(bandwidth, alpha, kernel, standardize, seed):
    bandwidth = check_float(bandwidth, "bandwidth", 0, min_inclusive=False)
    alpha = check_float(alpha, "alpha", 0, min_inclusive=False)
    check_kernel(kernel)
    if not isinstance(standardize, bool):
        raise TypeError(f"`standardize` must be a bool. Received: standardize={standardize!r}")
    return bandwidth, alpha, check_seed(seed)


def _seeds(seed):
    """An endless dataset of `(2,)` int32 stateless seeds, new ones every epoch."""
    data = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return data.batch(2).map(lambda s: tf.cast(s % (2**31 - 1), tf.int32))


def c_mixup_pairs(features, targets, batch_size, bandwidth=1.0, alpha=2.0, kernel="gaussian",
                  standardize=False, seed=None, shuffle=True):
    """C-Mixup's official dataset-level sampler as a `tf.data` pipeline of mixed batches.

    The sampling matrix over the whole training set is computed once (an
    `N x N` float32 matrix of logits: N = 20,000 takes 1.6 GB, so this is for
    data that fits, such as the paper's tabular sets), then every epoch the
    anchors come in a shuffled order, each anchor's partner is drawn from all
    N examples with probability `softmax_j(-||y_i - y_j||^2 / (2 h^2))`
    (self included), one `lam ~ Beta(alpha, alpha)` per batch, and
    `x = lam * x_i + (1 - lam) * x_j`, `y = lam * y_i + (1 - lam) * y_j`.

    Args:
        features: array `(N, ...)` of any rank.
        targets: float array `(N,)` or `(N, D)`.
        batch_size: int.
        bandwidth: float > 0, in label units (standard deviations with
            `standardize=True`). Defaults to `1.0` (official default).
        alpha: float > 0. Defaults to `2.0` (the official setting on most sets).
        kernel: `"gaussian"` or `"tophat"`.
        standardize: bool. Measure distances on targets divided by their
            standard deviation over the training set. Defaults to `False`.
        seed: int or None: the shuffle, the partners and the ratios.
        shuffle: bool. Shuffle the anchors every epoch. Defaults to `True`.

    Returns:
        A `tf.data.Dataset` of mixed `(features, targets)` batches, float32.

    Example:

    ```python
    import numpy as np
    import kmix

    x = np.random.rand(20, 3).astype("float32")
    y = np.linspace(0.0, 1.0, 20).astype("float32")
    ds = kmix.datasets.c_mixup_pairs(x, y, batch_size=8, bandwidth=0.2, seed=0)
    print([tuple(b[0].shape) for b in ds])  # [(8, 3), (8, 3), (4, 3)]
    ```
    """
    bandwidth, alpha, seed = _check_c_mixup_args(bandwidth, alpha, kernel, standardize, seed)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    features = tf.convert_to_tensor(features)
    targets = tf.cast(tf.convert_to_tensor(targets), tf.float32)
    distance_targets = standardize_labels(targets) if standardize else targets
    logits = label_distance_logits(distance_targets, distance_targets, bandwidth, kernel)
    n = int(features.shape[0])
    anchors = tf.data.Dataset.range(n)
    if shuffle:
        anchors = anchors.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    anchors = anchors.batch(batch_size)

    def mix(index, step_seed):
        seed_partner, seed_lam = tf.unstack(tf.random.experimental.stateless_split(step_seed, 2))
        index = tf.cast(index, tf.int32)
        partner = tf.random.stateless_categorical(
            tf.gather(logits, index), 1, seed_partner, dtype=tf.int32
        )[:, 0]
        lam = tf.repeat(sample_beta([1], alpha, seed_lam), tf.shape(index)[0])
        x = _blend(lam, tf.gather(features, index), tf.gather(features, partner))
        y = _blend(lam, tf.gather(targets, index), tf.gather(targets, partner))
        return x, y

    return tf.data.Dataset.zip((anchors, _seeds(seed))).map(
        mix, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def c_mixup_batches(dataset, bandwidth=1.0, alpha=2.0, kernel="gaussian", standardize=False,
                    seed=None, buffer_size=64):
    """C-Mixup's official batch-level pool (`batch_type=1`) as a `tf.data` transform.

    Each anchor batch is pooled with a second batch drawn at random from the
    same dataset (a reshuffled pass, `buffer_size` batches deep): the sampling
    matrix is computed over those 2B targets, each anchor's partner is drawn
    from the 2B pool (self included), one `lam ~ Beta(alpha, alpha)` per batch.
    Use it when the dataset-level matrix (`c_mixup_pairs`) does not fit; the
    in-batch `kmix.layers.CMixupPartner` draws among the B rows only.

    Args:
        dataset: a `tf.data.Dataset` of batched `(features, targets)`, targets
            float `(B,)` or `(B, D)`.
        bandwidth: float > 0, in label units (standard deviations of the pool
            with `standardize=True`).
        alpha: float > 0. Defaults to `2.0`.
        kernel: `"gaussian"` or `"tophat"`.
        standardize: bool. Defaults to `False`.
        seed: int or None.
        buffer_size: int, how many batches the second pass shuffles over.

    Returns:
        A `tf.data.Dataset` of mixed `(features, targets)` batches, float32.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    import kmix

    x = np.random.rand(32, 3).astype("float32")
    y = np.linspace(0.0, 1.0, 32).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    mixed = kmix.datasets.c_mixup_batches(ds, bandwidth=0.2, seed=0)
    print([tuple(b[1].shape) for b in mixed])  # [(8,), (8,), (8,), (8,)]
    ```
    """
    bandwidth, alpha, seed = _check_c_mixup_args(bandwidth, alpha, kernel, standardize, seed)
    buffer_size = check_int(buffer_size, "buffer_size", minimum=1)
    second = dataset.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True).repeat()

    def mix(anchor, other, step_seed):
        (x1, y1), (x2, y2) = anchor, other
        seed_partner, seed_lam = tf.unstack(tf.random.experimental.stateless_split(step_seed, 2))
        pool_x = tf.concat([tf.cast(x1, tf.float32), tf.cast(x2, tf.float32)], axis=0)
        pool_y = tf.concat([tf.cast(y1, tf.float32), tf.cast(y2, tf.float32)], axis=0)
        anchors = tf.cast(y1, tf.float32)
        if standardize:
            anchors = standardize_labels(anchors, pool_y)
            pool_d = standardize_labels(pool_y, pool_y)
        else:
            pool_d = pool_y
        partner = sample_c_mixup_partners(anchors, pool_d, bandwidth, seed_partner, kernel)
        lam = tf.repeat(sample_beta([1], alpha, seed_lam), tf.shape(partner)[0])
        x = _blend(lam, x1, tf.gather(pool_x, partner))
        y = _blend(lam, y1, tf.gather(pool_y, partner))
        return x, y

    return tf.data.Dataset.zip((dataset, second, _seeds(seed))).map(
        mix, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


__all__ = ["SHAPE_NAMES", "c_mixup_batches", "c_mixup_pairs", "load_digits", "make_shapes_dataset"]
