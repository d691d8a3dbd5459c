"""kmix.visualization: galleries of mixed batches and reliability diagrams."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix import visualization as vis
from kmix.visualization import reliability

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _shapes(n=6, size=16, seed=0):
    return kmix.datasets.make_shapes_dataset(n, image_size=size, num_classes=4, seed=seed)


def _assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_SIGNATURE


def _fixed_plan(batch_size=4, size=8):
    """A hand-made CutMix-like plan: row i keeps all but the first i+1 columns."""
    mask = np.ones((batch_size, size, size, 1), "float32")
    for i in range(batch_size):
        mask[i, :, : i + 1] = 0.0
    index = np.roll(np.arange(batch_size), 1).astype("int32")
    return kmix.MixPlan(
        index=tf.constant(index), mask=tf.constant(mask), lam=tf.constant(mask.mean(axis=(1, 2, 3)))
    )


# ----------------------------------------------------------------------------
# plot_mix_gallery
# ----------------------------------------------------------------------------
def test_gallery_writes_png_with_panels_and_lambda_titles(tmp_path):
    images, labels = _shapes()
    mixer = kmix.layers.CutMix(seed=3)
    plan = mixer.sample_plan(images)
    path = tmp_path / "sub" / "gallery.png"
    figure = vis.plot_mix_gallery(
        images, plan, labels=labels, mixed_images=mixer.mix_images(images, plan),
        class_names=list(kmix.datasets.SHAPE_NAMES[:4]), path=path, num_images=5,
    )
    _assert_png(path)
    axes = figure.axes
    assert len(axes) == 4 * 5
    lam = plan.lam.numpy()
    index = plan.index.numpy()
    names = kmix.datasets.SHAPE_NAMES
    for i in range(5):
        assert axes[i].get_title() == f"#{i}: {names[labels[i]]}"
        assert axes[5 + i].get_title() == f"partner #{index[i]}: {names[labels[index[i]]]}"
        assert axes[10 + i].get_title() == f"λ = {lam[i]:.2f}"
        assert axes[15 + i].get_title() == (
            f"{names[labels[i]]} {lam[i]:.0%}\n+ {names[labels[index[i]]]} {1 - lam[i]:.0%}"
        )
    assert [axes[5 * r].get_ylabel() for r in range(4)] == list(vis.GALLERY_PANELS)


def test_gallery_shows_the_plan_mask_and_the_given_mixed_images():
    images, _ = _shapes(n=4, size=8)
    plan = _fixed_plan(4, 8)
    mixed = kmix.ops.mix_images(images, plan).numpy()
    figure = vis.plot_mix_gallery(images, plan, mixed_images=mixed, num_images=4)
    for i in range(4):
        shown_mask = figure.axes[8 + i].get_images()[0].get_array()
        np.testing.assert_array_equal(np.asarray(shown_mask), plan.mask.numpy()[i, ..., 0])
        shown_mixed = figure.axes[12 + i].get_images()[0].get_array()
        np.testing.assert_allclose(np.asarray(shown_mixed), mixed[i], atol=1e-6)
        assert figure.axes[12 + i].get_title() == f"mixed, λ = {plan.lam.numpy()[i]:.2f}"


def test_gallery_with_a_plan_mixes_images_itself():
    images, _ = _shapes(n=4, size=8)
    plan = _fixed_plan(4, 8)
    figure = vis.plot_mix_gallery(images, plan, panels=["mixed"])
    expected = kmix.ops.mix_images(images, plan).numpy()
    assert len(figure.axes) == 4
    for i in range(4):
        np.testing.assert_allclose(
            np.asarray(figure.axes[i].get_images()[0].get_array()), expected[i], atol=1e-6
        )


def test_gallery_with_a_mixer_draws_its_plan():
    images, labels = _shapes(n=4, size=16)
    figure = vis.plot_mix_gallery(images, labels=labels, mixer=kmix.layers.MixUp(seed=5))
    twin_plan = kmix.layers.MixUp(seed=5).sample_plan(images)
    lam = twin_plan.lam.numpy()
    assert len(figure.axes) == 16
    assert [ax.get_title() for ax in figure.axes[8:12]] == [f"λ = {v:.2f}" for v in lam]


def test_gallery_resize_mix_uses_the_mixer_paste():
    images, _ = _shapes(n=4, size=16)
    figure = vis.plot_mix_gallery(images, mixer=kmix.layers.ResizeMix(seed=2), panels=("mixed",))
    twin = kmix.layers.ResizeMix(seed=2)
    expected = twin.mix_images(images, twin.sample_plan(images)).numpy()
    for i in range(4):
        np.testing.assert_allclose(
            np.asarray(figure.axes[i].get_images()[0].get_array()), expected[i], atol=1e-6
        )


def test_gallery_without_plan_is_a_labelled_gallery():
    images, labels = _shapes(n=3, size=8)
    figure = vis.plot_mix_gallery(images, labels=tf.one_hot(labels, 4))
    assert [ax.get_title() for ax in figure.axes] == [f"#{i}: {labels[i]}" for i in range(3)]
    figure = vis.plot_mix_gallery(images, mixed_images=images[::-1])
    assert len(figure.axes) == 6
    assert figure.axes[3].get_title() == "mixed"


def test_gallery_grayscale_uint8_and_channels_first():
    images = np.zeros((2, 8, 8, 1), "uint8")
    images[0] = 255
    figure = vis.plot_mix_gallery(images, panels=["images"])
    np.testing.assert_array_equal(np.asarray(figure.axes[0].get_images()[0].get_array()), 1.0)
    np.testing.assert_array_equal(np.asarray(figure.axes[1].get_images()[0].get_array()), 0.0)
    rgb, _ = _shapes(n=2, size=8)
    figure = vis.plot_mix_gallery(np.transpose(rgb, (0, 3, 1, 2)), data_format="channels_first")
    np.testing.assert_allclose(np.asarray(figure.axes[1].get_images()[0].get_array()), rgb[1])
    figure = vis.plot_mix_gallery(rgb * 2.0 - 1.0, value_range=(-1, 1))
    np.testing.assert_allclose(
        np.asarray(figure.axes[0].get_images()[0].get_array()), rgb[0], atol=1e-6
    )


def test_gallery_errors():
    images, labels = _shapes(n=4, size=8)
    plan = _fixed_plan(4, 8)
    with pytest.raises(ValueError, match=r"`images` must be a batch of shape \(B, H, W, C\).*Received: images.shape=\(8, 8, 3\)"):
        vis.plot_mix_gallery(images[0])
    with pytest.raises(ValueError, match=r"`images` must have 1 \(grayscale\) or 3 \(RGB\) channels. Received: images.shape=\(4, 8, 8, 2\)"):
        vis.plot_mix_gallery(images[..., :2])
    with pytest.raises(TypeError, match=r"`plan` must be a kmix.MixPlan.*Received: plan of type tuple"):
        vis.plot_mix_gallery(images, tuple(plan))
    short = kmix.MixPlan(plan.index[:2], plan.mask[:2], plan.lam[:2])
    with pytest.raises(ValueError, match=r"`plan` must be drawn for this batch of 4 images. Received: plan.index.shape=\(2,\)"):
        vis.plot_mix_gallery(images, short)
    wrong_mask = kmix.MixPlan(plan.index, tf.ones([4, 4, 4, 1]), plan.lam)
    with pytest.raises(ValueError, match=r"`plan.mask` must have shape \(4, 8, 8, 1\) or \(4, 1, 1, 1\). Received: plan.mask.shape=\(4, 4, 4, 1\)"):
        vis.plot_mix_gallery(images, wrong_mask)
    with pytest.raises(ValueError, match=r"`mixed_images` must have the shape of `images` \(4, 8, 8, 3\). Received: mixed_images.shape=\(2, 8, 8, 3\)"):
        vis.plot_mix_gallery(images, plan, mixed_images=images[:2])
    with pytest.raises(ValueError, match=r"`labels` must be class ids.*Received: labels.shape=\(3,\)"):
        vis.plot_mix_gallery(images, labels=labels[:3])
    with pytest.raises(ValueError, match=r"`labels` of shape \(B,\) must hold integer class ids"):
        vis.plot_mix_gallery(images, labels=np.array([0.5, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"`class_names` must name every class in `labels`.*Received: 2 class_names"):
        vis.plot_mix_gallery(images, labels=np.arange(4), class_names=["a", "b"])
    with pytest.raises(TypeError, match=r"`class_names` must be a list or tuple of str.*Received: class_names='abcd'"):
        vis.plot_mix_gallery(images, labels=np.arange(4), class_names="abcd")
    with pytest.raises(ValueError, match=r"`panels` must be a non-empty list of names.*Received: panels=\('images', 'boxes'\)"):
        vis.plot_mix_gallery(images, plan, panels=("images", "boxes"))
    with pytest.raises(ValueError, match=r"`panels` asks for partners, masks or mixed images, which need a `plan`.*Received: panels=\('masks',\) with plan=None"):
        vis.plot_mix_gallery(images, panels=("masks",))
    with pytest.raises(ValueError, match=r"Pass either `plan` or `mixer`, not both.*Received: both"):
        vis.plot_mix_gallery(images, plan, mixer=kmix.layers.CutMix())
    with pytest.raises(TypeError, match=r"`mixer` must be a kmix mixing layer.*Received: mixer of type Dense"):
        vis.plot_mix_gallery(images, mixer=keras.layers.Dense(2))
    with pytest.raises(ValueError, match=r"`num_images` must be an int >= 1. Received: num_images=0"):
        vis.plot_mix_gallery(images, num_images=0)
    with pytest.raises(TypeError, match=r"`num_images` must be an int >= 1. Received: num_images=2.0"):
        vis.plot_mix_gallery(images, num_images=2.0)
    with pytest.raises(ValueError, match=r"`value_range` must be a pair \(low, high\).*Received: value_range=\(1, 0\)"):
        vis.plot_mix_gallery(images, value_range=(1, 0))
    with pytest.raises(ValueError, match=r"`data_format` must be 'channels_last' or 'channels_first'. Received: data_format='nhwc'"):
        vis.plot_mix_gallery(images, data_format="nhwc")
    with pytest.raises(TypeError, match=r"`path` must be a str or os.PathLike.*Received: path=3"):
        vis.plot_mix_gallery(images, path=3)
    with pytest.raises(TypeError, match=r"`images` must have a real or integer dtype. Received: images.dtype=bool"):
        vis.plot_mix_gallery(images > 0.5)


# ----------------------------------------------------------------------------
# plot_mask_comparison
# ----------------------------------------------------------------------------
def test_mask_comparison_rows_per_mixer(tmp_path):
    images, _ = _shapes(n=5, size=16)
    mixers = {
        "CutMix": kmix.layers.CutMix(seed=0),
        "FMix": kmix.layers.FMix(seed=0),
        "ResizeMix": kmix.layers.ResizeMix(seed=0),
        "MaskMix": kmix.layers.MaskMix(mask_patch_size=8, patch_size=4, seed=0),
        "fixed": _fixed_plan(5, 16),
    }
    path = tmp_path / "masks.png"
    figure = vis.plot_mask_comparison(images, mixers, path=path, num_images=4)
    _assert_png(path)
    assert len(figure.axes) == 5 * 2 * 4
    labels = [figure.axes[4 * r].get_ylabel() for r in range(10)]
    assert labels[::2] == list(mixers)
    assert labels[1::2] == [f"{name} mixed" for name in mixers]
    for m, (name, seed_twin) in enumerate(
        [("CutMix", kmix.layers.CutMix(seed=0)), ("FMix", kmix.layers.FMix(seed=0))]
    ):
        lam = seed_twin.sample_plan(images).lam.numpy()
        assert [ax.get_title() for ax in figure.axes[8 * m: 8 * m + 4]] == [
            f"λ = {v:.2f}" for v in lam[:4]
        ]
    fixed_lam = mixers["fixed"].lam.numpy()
    assert figure.axes[32].get_title() == f"λ = {fixed_lam[0]:.2f}"
    figure = vis.plot_mask_comparison(images, {"CutMix": kmix.layers.CutMix(seed=0)}, show_mixed=False)
    assert len(figure.axes) == 5


def test_mask_comparison_errors():
    images, _ = _shapes(n=2, size=8)
    with pytest.raises(TypeError, match=r"`mixers` must be a mapping \{name: mixing layer or kmix.MixPlan\}. Received: mixers of type list"):
        vis.plot_mask_comparison(images, [kmix.layers.CutMix()])
    with pytest.raises(ValueError, match=r"`mixers` must name at least one mixing layer or plan. Received: mixers=\{\}"):
        vis.plot_mask_comparison(images, {})
    with pytest.raises(TypeError, match=r"`mixers` must map names to kmix mixing layers or kmix.MixPlan. Received: mixers\['a'\] of type str"):
        vis.plot_mask_comparison(images, {"a": "cutmix"})


# ----------------------------------------------------------------------------
# plot_reliability_diagram
# ----------------------------------------------------------------------------
def _reference_bins(labels, probabilities, num_bins):
    """Loop reference: equal-width bins, lo < conf <= hi, conf = max probability."""
    counts = [0] * num_bins
    hits = [0.0] * num_bins
    conf_sum = [0.0] * num_bins
    for y, p in zip(labels, probabilities):
        conf = max(p)
        for b in range(num_bins):
            lo, hi = b / num_bins, (b + 1) / num_bins
            if lo < conf <= hi:
                counts[b] += 1
                hits[b] += float(int(np.argmax(p)) == y)
                conf_sum[b] += conf
                break
    ece = sum(
        counts[b] / len(labels) * abs(hits[b] / counts[b] - conf_sum[b] / counts[b])
        for b in range(num_bins) if counts[b]
    )
    return counts, ece


def _random_predictions(n=300, k=5, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2.5
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.where(rng.random(n) < 0.6, probabilities.argmax(1), rng.integers(0, k, n))
    return labels, probabilities


@pytest.mark.parametrize("num_bins", [1, 7, 15])
def test_reliability_bins_match_loop_reference(num_bins):
    labels, probabilities = _random_predictions()
    bins = reliability._reliability_bins(labels, probabilities, num_bins)
    counts, ece = _reference_bins(labels, probabilities, num_bins)
    assert bins["counts"].tolist() == counts
    assert bins["ece"] == pytest.approx(ece, abs=1e-12)


def test_reliability_bins_boundary_goes_to_the_lower_bin():
    # conf 0.5 sits on the edge between (0.25, 0.5] and (0.5, 0.75]: lower bin.
    probabilities = np.array([[0.5, 0.5], [0.75, 0.25], [0.25, 0.75], [1.0, 0.0]])
    bins = reliability._reliability_bins(np.array([0, 0, 0, 0]), probabilities, 4)
    assert bins["counts"].tolist() == [0, 1, 2, 1]
    # bin (0.5, 0.75]: confidences 0.75 (correct) and 0.75 (wrong): acc 0.5.
    assert bins["accuracy"][2] == 0.5
    assert np.isnan(bins["accuracy"][0])
    assert bins["ece"] == pytest.approx(0.25 * 0.5 + 0.5 * 0.25 + 0.25 * 0.0)


def test_reliability_diagram_png_title_and_bars(tmp_path):
    labels, probabilities = _random_predictions()
    path = tmp_path / "reliability.png"
    figure = vis.plot_reliability_diagram(
        tf.constant(labels), tf.constant(probabilities, tf.float32), num_bins=10, path=path,
        title="model",
    )
    _assert_png(path)
    assert len(figure.axes) == 2
    bins = reliability._reliability_bins(labels, probabilities.astype("float32").astype("float64"), 10)
    assert figure.axes[0].get_title() == f"model: ECE = {bins['ece']:.3f} (300 samples, 10 bins)"
    filled = bins["counts"] > 0
    accuracy_bars = figure.axes[0].containers[0]
    np.testing.assert_allclose([bar.get_height() for bar in accuracy_bars], bins["accuracy"][filled])
    count_bars = figure.axes[1].containers[0]
    assert [int(bar.get_height()) for bar in count_bars] == bins["counts"].tolist()
    one_hot = np.eye(5)[labels]
    figure = vis.plot_reliability_diagram(one_hot, probabilities, num_bins=10, show_histogram=False)
    assert len(figure.axes) == 1
    assert figure.axes[0].get_title().startswith(f"ECE = {bins['ece']:.3f}")


def test_reliability_diagram_errors():
    labels, probabilities = _random_predictions(n=10, k=3)
    with pytest.raises(ValueError, match=r"`num_bins` must be an int >= 1. Received: num_bins=0"):
        vis.plot_reliability_diagram(labels, probabilities, num_bins=0)
    with pytest.raises(TypeError, match=r"`num_bins` must be an int >= 1. Received: num_bins=2.5"):
        vis.plot_reliability_diagram(labels, probabilities, num_bins=2.5)
    with pytest.raises(ValueError, match=r"`probabilities` must have shape \(N, K\).*Received: probabilities.shape=\(10,\)"):
        vis.plot_reliability_diagram(labels, probabilities[:, 0])
    with pytest.raises(ValueError, match=r"`probabilities` must be probabilities in \[0, 1\] \(apply a softmax to logits first\). Received: values in"):
        vis.plot_reliability_diagram(labels, probabilities * 3 - 1)
    with pytest.raises(ValueError, match=r"`labels` must be class ids \(N,\) or one-hot labels \(N, K\).*Received: labels.shape=\(9,\)"):
        vis.plot_reliability_diagram(labels[:9], probabilities)
    with pytest.raises(ValueError, match=r"`labels` of shape \(N,\) must be integer class ids in \[0, 3\). Received: values in \[0, 3\]"):
        vis.plot_reliability_diagram(np.array([0] * 9 + [3]), probabilities)
    with pytest.raises(TypeError, match=r"`path` must be a str or os.PathLike.*Received: path=\['a.png'\]"):
        vis.plot_reliability_diagram(labels, probabilities, path=["a.png"])


def test_reliability_diagrams_one_panel_per_model(tmp_path):
    labels, probabilities = _random_predictions()
    flat = np.full_like(probabilities, 1.0 / probabilities.shape[1])
    path = tmp_path / "reliability.png"
    figure = vis.plot_reliability_diagrams(
        labels, {"model": probabilities, "flat": flat, "sharp": np.eye(5)[labels]},
        num_bins=10, path=path, columns=2, title="three models",
    )
    _assert_png(path)
    assert len(figure.axes) == 3  # the fourth cell of the 2x2 grid is removed
    for axes, value, name in zip(figure.axes, [probabilities, flat, np.eye(5)[labels]], ["model", "flat", "sharp"]):
        bins = reliability._reliability_bins(labels, value.astype("float64"), 10)
        assert axes.get_title() == f"{name}\nECE = {bins['ece']:.3f}"
        filled = bins["counts"] > 0
        np.testing.assert_allclose([bar.get_height() for bar in axes.containers[0]], bins["accuracy"][filled])
    assert figure.axes[2].get_title() == "sharp\nECE = 0.000"  # one-hot predictions of the labels


def test_reliability_diagrams_errors():
    labels, probabilities = _random_predictions(n=10, k=3)
    with pytest.raises(TypeError, match=r"`probabilities` must be a non-empty mapping .*Received: probabilities of type ndarray"):
        vis.plot_reliability_diagrams(labels, probabilities)
    with pytest.raises(TypeError, match=r"`probabilities` must be a non-empty mapping .*Received: probabilities of type dict"):
        vis.plot_reliability_diagrams(labels, {})
    with pytest.raises(ValueError, match=r"In probabilities\['bad'\]: `probabilities` must be probabilities in \[0, 1\]"):
        vis.plot_reliability_diagrams(labels, {"ok": probabilities, "bad": probabilities * 3 - 1})


# ----------------------------------------------------------------------------
# matplotlib is optional
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda: vis.plot_mix_gallery(np.zeros((2, 4, 4, 3))),
        lambda: vis.plot_mask_comparison(np.zeros((2, 4, 4, 3)), {"c": kmix.layers.CutMix()}),
        lambda: vis.plot_reliability_diagram(np.array([0]), np.array([[1.0, 0.0]])),
        lambda: vis.plot_reliability_diagrams(np.array([0]), {"m": np.array([[1.0, 0.0]])}),
    ],
)
def test_missing_matplotlib_raises_a_clear_import_error(monkeypatch, call):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"kmix.visualization needs matplotlib. Install it with `pip install kmix\[vis\]`"):
        call()


def test_kmix_imports_without_matplotlib():
    # TensorFlow may import matplotlib itself when it is installed, so the
    # check blocks it in a fresh interpreter before kmix is imported.
    import subprocess

    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import numpy as np, kmix\n"
        "try:\n"
        "    kmix.visualization.plot_reliability_diagram([0], np.array([[1.0, 0.0]]))\n"
        "except ImportError as error:\n"
        "    print('pip install kmix[vis]' in str(error))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_gallery_marks_unmixed_rows():
    images, _ = _shapes(n=3, size=8)
    plan = kmix.MixPlan(
        index=tf.constant([0, 2, 1]),
        mask=tf.constant([1.0, 0.25, 0.75], shape=[3, 1, 1, 1]),
        lam=tf.constant([1.0, 0.25, 0.75]),
    )
    figure = vis.plot_mix_gallery(images, plan, labels=np.array([3, 1, 0]), panels=["mixed"])
    assert [ax.get_title() for ax in figure.axes] == ["3 (not mixed)", "1 25%\n+ 0 75%", "0 75%\n+ 1 25%"]
    figure = vis.plot_mix_gallery(images, plan, panels=["mixed"])
    assert figure.axes[0].get_title() == "not mixed"


def test_inputs_that_are_not_arrays_are_named():
    class NotAnArray:
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("no")

    with pytest.raises(TypeError, match=r"`images` must be an array or tensor. Received: images of type NotAnArray"):
        vis.plot_mix_gallery(NotAnArray())
    with pytest.raises(TypeError, match=r"`probabilities` must be an array or tensor. Received: probabilities of type NotAnArray"):
        vis.plot_reliability_diagram([0], NotAnArray())


# plot_bounding_boxes


def test_plot_bounding_boxes_draws_one_rectangle_per_box(tmp_path):
    from matplotlib.patches import Rectangle

    images = np.zeros((5, 20, 30, 3), np.float32)
    boxes = np.array([[[2, 3, 10, 12], [-1, -1, -1, -1]]] * 5, np.float32)
    labels = np.array([[1, -1]] * 5, np.int32)
    labels[2, 1], boxes[2, 1] = 0, [5, 5, 25, 15]
    path = tmp_path / "boxes.png"
    figure = vis.plot_bounding_boxes(images, {"boxes": boxes, "labels": labels}, "xyxy", path=path,
                                     num_images=3, class_names=["a", "b"])
    _assert_png(path)
    assert len(figure.axes) == 3
    rectangles = [[p for p in axes.patches if isinstance(p, Rectangle)] for axes in figure.axes]
    assert [len(r) for r in rectangles] == [1, 1, 2]  # padding (-1) is not drawn
    # Edges sit on pixel edges: pixel (i, j) is centred on (j, i).
    assert rectangles[0][0].get_xy() == (1.5, 2.5) and rectangles[0][0].get_width() == 8
    assert [t.get_text() for t in figure.axes[2].texts] == ["b", "a"]
    # The same boxes as relative yxyx, ragged: the same rectangles.
    rel = np.stack([boxes[..., 1] / 20, boxes[..., 0] / 30, boxes[..., 3] / 20, boxes[..., 2] / 30], -1)
    lengths = (labels >= 0).sum(1)
    ragged = {"boxes": tf.RaggedTensor.from_tensor(rel, lengths=lengths),
              "labels": tf.RaggedTensor.from_tensor(labels, lengths=lengths)}
    again = vis.plot_bounding_boxes(images, ragged, "rel_yxyx", num_images=3)
    got = [p.get_xy() for axes in again.axes for p in axes.patches]
    want = [p.get_xy() for r in rectangles for p in r]
    np.testing.assert_allclose(got, want, atol=1e-4)
    with pytest.raises(ValueError, match=r"plot_bounding_boxes's `bounding_box_format` must be one of Keras's formats"):
        vis.plot_bounding_boxes(images, {"boxes": boxes, "labels": labels}, "xyz")
    with pytest.raises(ValueError, match=r"`bounding_boxes` must be a dict with the keys 'boxes'"):
        vis.plot_bounding_boxes(images, boxes, "xyxy")
