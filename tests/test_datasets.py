"""kmix.datasets: offline digits and synthetic shapes."""

import inspect
import sys

import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import datasets
from tests.doc_examples import python_blocks
from tests.doc_examples import run_block


def test_load_digits_shapes_range_and_split():
    (x_train, y_train), (x_test, y_test) = datasets.load_digits(image_size=32, seed=0)
    assert x_train.shape == (1348, 32, 32, 1) and x_test.shape == (449, 32, 32, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0 and x_train.max() > 0.9
    assert sorted(np.unique(np.concatenate([y_train, y_test]))) == list(range(10))
    # The split is a permutation of all 1797 digits: no image is in both halves.
    from sklearn.datasets import load_digits as sk_load_digits

    raw = sk_load_digits()
    (small_train, _), (small_test, _) = datasets.load_digits(image_size=8, seed=0)
    together = np.concatenate([small_train, small_test])[..., 0]
    np.testing.assert_allclose(
        np.sort(together.reshape(len(together), -1), axis=0),
        np.sort(raw.images.reshape(len(raw.images), -1) / 16.0, axis=0),
        atol=1e-6,
    )


def test_load_digits_resize_matches_tf_bilinear():
    (x_train, _), _ = datasets.load_digits(image_size=24, test_fraction=0.0, seed=None)
    from sklearn.datasets import load_digits as sk_load_digits

    raw = sk_load_digits().images.astype("float32") / 16.0
    expected = tf.image.resize(raw[..., None], (24, 24), method="bilinear").numpy()
    # With seed=None the order is random: compare as sets of images.
    key = lambda a: np.lexsort(a.reshape(len(a), -1).T[::-1])  # noqa: E731
    np.testing.assert_allclose(x_train[key(x_train)], np.clip(expected, 0, 1)[key(expected)], atol=1e-5)


def test_load_digits_seed_controls_the_split():
    (a, _), _ = datasets.load_digits(image_size=8, seed=1)
    (b, _), _ = datasets.load_digits(image_size=8, seed=1)
    (c, _), _ = datasets.load_digits(image_size=8, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_load_digits_errors(monkeypatch):
    with pytest.raises(ValueError, match=r"`image_size` must be an int >= 8. Received: image_size=4"):
        datasets.load_digits(image_size=4)
    with pytest.raises(TypeError, match=r"`image_size` must be an int. Received: image_size=32.0"):
        datasets.load_digits(image_size=32.0)
    with pytest.raises(ValueError, match=r"`test_fraction` must be a float in \[0, 1\). Received: test_fraction=1.0"):
        datasets.load_digits(test_fraction=1.0)
    with pytest.raises(TypeError, match=r"`seed` must be an int or None. Received: seed='0'"):
        datasets.load_digits(seed="0")
    for name in list(sys.modules):
        if name == "sklearn" or name.startswith("sklearn."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"bundled digits; install it with `pip install kmix\[datasets\]`"):
        datasets.load_digits()


def test_shapes_dataset_properties():
    images, labels = datasets.make_shapes_dataset(30, image_size=20, num_classes=6, seed=3)
    assert images.shape == (30, 20, 20, 3) and images.dtype == np.float32
    assert labels.shape == (30,) and labels.dtype == np.int32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert np.bincount(labels).tolist() == [5] * 6
    again, again_labels = datasets.make_shapes_dataset(30, image_size=20, num_classes=6, seed=3)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)
    other, _ = datasets.make_shapes_dataset(30, image_size=20, num_classes=6, seed=4)
    assert not np.array_equal(images, other)


def test_shapes_are_drawn_as_their_class():
    # The shape's colour is the image's most frequent bright pixel value; the
    # share of the image it covers separates a ring from a filled circle.
    images, labels = datasets.make_shapes_dataset(60, image_size=32, num_classes=6, seed=0)
    coverage = {k: [] for k in range(6)}
    for image, label in zip(images, labels):
        flat = image.reshape(-1, 3)
        values, counts = np.unique(flat, axis=0, return_counts=True)
        colour = values[np.argmax(counts)]
        coverage[int(label)].append(np.all(flat == colour, axis=1).mean())
    mean = {k: float(np.mean(v)) for k, v in coverage.items()}
    names = dict(enumerate(datasets.SHAPE_NAMES))
    assert all(0.03 < m < 0.6 for m in mean.values()), mean
    # A ring covers less than the filled circle of the same radius, a cross less than a square.
    assert mean[4] < mean[0], (names, mean)
    assert mean[3] < mean[1], (names, mean)


def test_shapes_errors():
    with pytest.raises(ValueError, match=r"`num_samples` must be an int >= 1. Received: num_samples=0"):
        datasets.make_shapes_dataset(0)
    with pytest.raises(ValueError, match=r"`num_classes` must be an int in \[2, 6\]. Received: num_classes=7"):
        datasets.make_shapes_dataset(4, num_classes=7)
    with pytest.raises(TypeError, match=r"`num_classes` must be an int. Received: num_classes=True"):
        datasets.make_shapes_dataset(4, num_classes=True)
    with pytest.raises(ValueError, match=r"`image_size` must be an int >= 8. Received: image_size=7"):
        datasets.make_shapes_dataset(4, image_size=7)
    with pytest.raises(TypeError, match=r"`seed` must be an int or None. Received: seed=1.5"):
        datasets.make_shapes_dataset(4, seed=1.5)


@pytest.mark.parametrize("name", datasets.__all__[1:])
def test_docstring_examples(name):
    blocks = python_blocks(inspect.getdoc(getattr(kmix.datasets, name)))
    assert blocks
    assert sum(run_block(block, name) for block in blocks) >= 1


# ----------------------------------------------------------------------
# C-Mixup's tf.data samplers
# ----------------------------------------------------------------------
def _partners_from_one_hot(rows, anchors):
    """Partner of each row whose features were one-hot `e_anchor` before mixing."""
    partners = []
    for row, anchor in zip(rows, anchors):
        others = [j for j in np.flatnonzero(row > 1e-6) if j != anchor]
        partners.append(others[0] if others else anchor)
    return np.array(partners)


def test_c_mixup_pairs_draw_partners_by_the_dataset_level_matrix():

    targets = np.array([0.1, 0.5, 0.55, 1.2, 2.0, 2.1, 3.0, 4.5], np.float32)
    n, epochs = len(targets), 1500
    features = np.eye(n, dtype=np.float32)
    ds = kmix.datasets.c_mixup_pairs(features, targets, batch_size=n, bandwidth=0.5, seed=0,
                                     shuffle=False).repeat(epochs)
    counts = np.zeros((n, n))
    for x, y in ds.as_numpy_iterator():
        partners = _partners_from_one_hot(x, np.arange(n))
        counts[np.arange(n), partners] += 1
        # The targets follow the features: the anchor's weight is lam.
        lam = x[np.arange(n), np.arange(n)]
        lam = np.where(partners == np.arange(n), 1.0, lam)
        np.testing.assert_allclose(y, lam * targets + (1 - lam) * targets[partners], atol=1e-5)
    p = kmix.ops.c_mixup_probabilities(targets, bandwidth=0.5).numpy()
    for i in range(n):
        expected = p[i] * epochs
        cells = expected >= 5
        chi2 = float(((counts[i][cells] - expected[cells]) ** 2 / expected[cells]).sum())
        dof = max(int(cells.sum()) - 1, 1)
        assert chi2 < dof * (1 - 2 / (9 * dof) + 3.09 * np.sqrt(2 / (9 * dof))) ** 3, (i, counts[i])


def test_c_mixup_batches_draw_from_the_pool_of_two_batches():
    n = 16
    features = np.eye(n, dtype=np.float32)
    targets = np.linspace(0.0, 3.0, n).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((features, targets)).batch(4)
    seen_outside = False
    for (x, y), (anchor_x, _) in zip(kmix.datasets.c_mixup_batches(ds, bandwidth=2.0, seed=1).repeat(3),
                                      ds.repeat(3)):
        x, y = x.numpy(), y.numpy()
        anchors = anchor_x.numpy().argmax(axis=1)
        partners = _partners_from_one_hot(x, anchors)
        lam = np.where(partners == anchors, 1.0, x[np.arange(4), anchors])
        np.testing.assert_allclose(y, lam * targets[anchors] + (1 - lam) * targets[partners], atol=1e-5)
        seen_outside |= bool(np.any(~np.isin(partners, anchors)))
    assert seen_outside  # partners come from the second batch too


def test_c_mixup_sampler_errors():
    with pytest.raises(ValueError, match=r"`kernel` must be one of"):
        kmix.datasets.c_mixup_pairs(np.zeros((4, 2)), np.zeros(4), batch_size=2, kernel="box")
    with pytest.raises(ValueError, match=r"`bandwidth` must be"):
        kmix.datasets.c_mixup_pairs(np.zeros((4, 2)), np.zeros(4), batch_size=2, bandwidth=-1.0)
