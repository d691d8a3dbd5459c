"""Bad input is refused before any work, with the argument, the expected form and what came."""

import numpy as np
import pytest
import tensorflow as tf

import kmix

L = kmix.layers


def _state(layer):
    return layer.generator.state.numpy().tolist()


def call_error(layer, *args, exc=ValueError, match, **kwargs):
    """Asserts the call raises and that no random draw (no work) happened first."""
    before = _state(layer)
    with pytest.raises(exc, match=match):
        layer(*args, **kwargs)
    assert _state(layer) == before, "the layer sampled before refusing its input"


IMAGES = np.zeros((4, 8, 8, 3), np.float32)


@pytest.mark.parametrize("shape", [(8, 8), (2, 4, 8, 8, 3), (8,)])
def test_images_of_wrong_rank(shape):
    call_error(
        L.CutMix(num_classes=3),
        np.zeros(shape, np.float32),
        match=r"`images` must have rank 4 \(B, H, W, C\) or rank 3 \(H, W, C\) for a single image\. "
        r"Received: images.shape=\(" + ", ".join(map(str, shape)),
    )


def test_images_and_labels_with_different_batch_sizes():
    call_error(
        L.MixUp(num_classes=3),
        IMAGES,
        np.array([0, 1, 2]),
        match=r"`images` and `labels` must have the same batch size\. "
        r"Received: images.shape=\(4, 8, 8, 3\) and labels.shape=\(3,\)",
    )


def test_batch_size_mismatch_in_a_graph_fails_at_run_time():
    layer = L.MixUp(num_classes=3)
    fn = tf.function(lambda x, y: layer(x, y), input_signature=[
        tf.TensorSpec([None, 8, 8, 3]), tf.TensorSpec([None], tf.int64)])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"must have the same batch size"):
        fn(IMAGES, np.array([0, 1, 2]))


def test_integer_labels_without_num_classes():
    call_error(
        L.CutMix(),
        IMAGES,
        np.array([0, 1, 2, 1]),
        match=r"Class-id `labels` need `num_classes`.*Received: labels.shape=\(4,\) with "
        r"dtype=int64 and num_classes=None",
    )


@pytest.mark.parametrize("bad, extreme", [(5, "max=5"), (-1, "min=-1")])
def test_class_ids_out_of_range(bad, extreme):
    call_error(
        L.MixUp(num_classes=5),
        {"images": IMAGES, "labels": np.array([0, 1, bad, 2])},
        match=r"`labels` class ids must be in \[0, num_classes\)=\[0, 5\)\. Received: labels with .*" + extreme,
    )


def test_soft_labels_of_wrong_width():
    call_error(
        L.CutMix(num_classes=5),
        IMAGES,
        np.eye(4, dtype=np.float32),
        match=r"Soft `labels` must have shape \(B, num_classes\)=\(B, 5\)\. Received: labels.shape=\(4, 4\)",
    )


@pytest.mark.parametrize("cls", [L.MixUp, L.CutMix])
@pytest.mark.parametrize("alpha", [0.0, -0.5])
def test_alpha_not_positive(cls, alpha):
    with pytest.raises(ValueError, match=rf"`alpha` must be a float > 0\. Received: alpha={alpha}"):
        cls(alpha=alpha)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_probability_outside_unit_interval(p):
    with pytest.raises(ValueError, match=rf"`no_mix_probability` must be a float in \[0, 1\]\. Received: no_mix_probability={p}"):
        L.RandomMixChoice([L.MixUp()], no_mix_probability=p)


def test_mixer_weights():
    with pytest.raises(ValueError, match=r"`weights` must be one non-negative float per mixer .* Received: weights=\[1.0, -1.0\] for 2 mixers"):
        L.RandomMixChoice([L.MixUp(), L.CutMix()], weights=[1, -1])
    with pytest.raises(ValueError, match=r"Received: weights=\[1.0\] for 2 mixers"):
        L.RandomMixChoice([L.MixUp(), L.CutMix()], weights=[1])


def test_mixers_must_be_kmix_mixers():
    with pytest.raises(TypeError, match=r"`mixers` must hold kmix mixing layers .* Received an element of type Dense"):
        L.RandomMixChoice([L.MixUp(), kmix.layers.base_mix_layer.keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"`mixers` must be a non-empty list"):
        L.RandomMixChoice([])


def test_bounding_boxes_are_refused_by_mixers_that_cannot_move_them():
    call_error(
        L.GridMix(num_classes=3),
        {"images": IMAGES, "labels": np.array([0, 1, 2, 0]), "bounding_boxes": {"boxes": np.zeros((4, 1, 4))}},
        match=r"`bounding_boxes` are not supported by GridMix\. MixUp, CutMix",
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"label_smoothing": 1.0}, r"`label_smoothing` must be a float in \[0, 1\)\. Received: label_smoothing=1.0"),
        ({"lam_scope": "pair"}, r"`lam_scope` must be one of \('batch', 'sample'\)\. Received: lam_scope='pair'"),
        ({"partner": "random"}, r"`partner` must be one of .* Received: partner='random'"),
        ({"data_format": "NHWC"}, r"`data_format` must be 'channels_last' or 'channels_first'\. Received: data_format='NHWC'"),
        ({"num_classes": 0}, r"`num_classes` must be an int >= 1\. Received: num_classes=0"),
        ({"minmax": (0.8, 0.2)}, r"`minmax` must be a pair \(lo, hi\) with 0 <= lo < hi <= 1\. Received: minmax=\(0.8, 0.2\)"),
        ({"patch_size": 0}, r"`patch_size` must be None or an int >= 1\. Received: patch_size=0"),
    ],
)
def test_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.CutMix(**kwargs)


def test_constructor_argument_types():
    with pytest.raises(TypeError, match=r"`seed` must be an int or None\. Received: seed='1'"):
        L.MixUp(seed="1")
    with pytest.raises(TypeError, match=r"`num_classes` must be None or an int >= 1\. Received: num_classes=2.5"):
        L.MixUp(num_classes=2.5)


def test_dict_and_tuple_forms():
    layer = L.MixUp(num_classes=3)
    call_error(layer, {"labels": np.zeros(4)}, match=r"A dict input to MixUp must have an 'images' key\. Received keys: \['labels'\]")
    call_error(layer, (IMAGES,), match=r"A tuple input to MixUp must be \(images, labels\) or \(images, labels, sample_weight\)\. Received: a tuple of length 1")


def test_segmentation_masks_of_wrong_size():
    call_error(
        L.CutMix(num_classes=3),
        {"images": IMAGES, "labels": np.array([0, 1, 2, 0]), "segmentation_masks": np.zeros((4, 6, 6, 1), np.int32)},
        match=r"`segmentation_masks` must have the spatial size of the images \(8, 8\)\. Received: segmentation_masks.shape=\(4, 6, 6, 1\)",
    )


def test_random_mix_choice_rejects_alpha_and_lam_scope():
    with pytest.raises(ValueError, match=r"`alpha` of RandomMixChoice must be None.*Received: alpha=1.0"):
        L.RandomMixChoice([L.MixUp()], alpha=1.0)
    with pytest.raises(TypeError, match=r"RandomMixChoice has no `lam_scope`.*Received: lam_scope='sample'"):
        L.RandomMixChoice([L.MixUp()], lam_scope="sample")


# ----------------------------------------------------------------------
# Non-finite hyper-parameters: refused at construction, naming the argument
# (inf gave NaN images and labels, or a mixer that never mixes).
# ----------------------------------------------------------------------
INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: L.MixUp(alpha=INF), r"`alpha` must be a finite float > 0\. Received: alpha=inf"),
        (lambda: L.MixUp(alpha=NAN), r"`alpha` must be a finite float > 0\. Received: alpha=nan"),
        (lambda: L.CutMix(alpha=INF), r"`alpha` must be a finite float > 0\. Received: alpha=inf"),
        (lambda: L.FMix(alpha=INF), r"`alpha` must be a finite float > 0\. Received: alpha=inf"),
        (lambda: L.ResizeMix(alpha=np.float32(INF)), r"`alpha` must be a finite float > 0\. Received: alpha=inf"),
        (lambda: L.MaskMix(alpha=INF), r"`alpha` must be a finite float > 0\. Received: alpha=inf"),
        (lambda: L.TokenMix(alpha=INF), r"`alpha` must be a finite float > 0\. Received: alpha=inf"),
        (lambda: L.SMMix(alpha=INF), r"`alpha` must be a finite float > 0\. Received: alpha=inf"),
        (lambda: L.MixUp(label_smoothing=NAN), r"`label_smoothing` must be a finite float in \[0, 1\)\. Received: label_smoothing=nan"),
        (lambda: L.FMix(decay_power=INF), r"`decay_power` must be a finite float > 0\. Received: decay_power=inf"),
        (lambda: L.FMix(max_soft=NAN), r"`max_soft` must be a finite float in \[0, 0.5\]\. Received: max_soft=nan"),
        (lambda: L.TokenMix(lam_constant=NAN), r"`lam_constant` must be None or a finite float in \[0, 1\]\. Received: lam_constant=nan"),
        (lambda: L.SMMix(switch_prob=NAN), r"`switch_prob` must be a finite float in \[0, 1\]\. Received: switch_prob=nan"),
        (lambda: L.SMMix(min_side_ratio=NAN), r"`min_side_ratio` must be a finite float in \(0, 1\]\. Received: min_side_ratio=nan"),
        (lambda: L.SMMix(max_side_ratio=INF), r"`max_side_ratio` must be a finite float in \(0, 1\]\. Received: max_side_ratio=inf"),
        (lambda: L.RandomMixChoice([L.MixUp()], no_mix_probability=NAN),
         r"`no_mix_probability` must be a finite float in \[0, 1\]\. Received: no_mix_probability=nan"),
        (lambda: L.RandomMixChoice([L.MixUp(), L.CutMix()], weights=[1, NAN]),
         r"`weights` must be one non-negative float per mixer .* every weight finite\. Received: weights=\[1.0, nan\] for 2 mixers"),
        (lambda: L.RandomMixChoice([L.MixUp(), L.CutMix()], weights=[INF, 1]),
         r"`weights` .* every weight finite\. Received: weights=\[inf, 1.0\] for 2 mixers"),
    ],
)
def test_non_finite_hyper_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ----------------------------------------------------------------------
# NumPy scalars are numbers like Python's, and are stored as Python numbers.
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: L.MixUp(seed=np.float32(1)), r"`seed` must be an int or None\. Received: seed=np.float32\(1.0\)"),
        (lambda: L.MixUp(num_classes=np.bool_(True)), r"`num_classes` must be None or an int >= 1\. Received: num_classes="),
        (lambda: L.MaskMix(patch_size=np.float64(4.0)), r"`patch_size` must be an int >= 1\. Received: patch_size="),
        (lambda: L.MixUp(alpha="1"), r"`alpha` must be a float > 0\. Received: alpha='1'"),
    ],
)
def test_numpy_scalars_of_the_wrong_kind(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def test_numpy_scalar_ranges_are_checked():
    with pytest.raises(ValueError, match=r"`num_classes` must be an int >= 1\. Received: num_classes=0"):
        L.MixUp(num_classes=np.int64(0))
    with pytest.raises(ValueError, match=r"`alpha` must be a float > 0\. Received: alpha=-1.0"):
        L.CutMix(alpha=np.float32(-1))
