"""Numeric arguments of losses, metrics, models, ops and datasets (the layers: tests/layers).

NumPy scalars are numbers like Python's (and are stored as Python numbers, so
that configs serialise); NaN and infinities are refused at construction,
naming the argument.
"""

import json

import numpy as np
import pytest

import kmix

INF, NAN = float("inf"), float("nan")


def _plain(config):
    for key, value in config.items():
        assert not isinstance(value, np.generic), f"get_config()[{key!r}] holds {type(value).__name__}"
    json.dumps(config)
    return config


def _same_config(a, b):
    a, b = dict(a.get_config()), dict(b.get_config())
    a.pop("name", None)
    b.pop("name", None)
    assert a == b


# ----------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------
LOSSES = [
    (lambda n: kmix.losses.MixupCrossentropy(label_smoothing=n(0.125))),
    (lambda n: kmix.losses.DecoupledMixupLoss(eta=n(0.25), lam_power=n(2.0), threshold=n(0.5),
                                              label_smoothing=n(0.0))),
    (lambda n: kmix.losses.LUMixLoss(noise_scale=n(0.25), prediction_weight=n(0.5))),
    (lambda n: kmix.losses.RankMixupLoss(num_mixes=n(2), margin=n(1.5), weight=n(0.5))),
    (lambda n: kmix.losses.SMMixLoss(fine_weight=n(0.5), consistency_weight=n(2.0))),
]


def _np(value):
    return np.int64(value) if isinstance(value, int) else np.float32(value)


@pytest.mark.parametrize("make", LOSSES)
def test_losses_take_numpy_scalars(make):
    loss = make(_np)
    config = _plain(loss.get_config())
    _same_config(loss, make(lambda v: v))
    assert type(loss).from_config(config).get_config() == config


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: kmix.losses.MixupCrossentropy(label_smoothing=NAN),
         r"`label_smoothing` must be a finite float in \[0, 1\)\. Received: label_smoothing=nan"),
        (lambda: kmix.losses.DecoupledMixupLoss(eta=INF), r"`eta` must be a finite float >= 0\. Received: eta=inf"),
        (lambda: kmix.losses.DecoupledMixupLoss(lam_power=NAN), r"`lam_power` must be a finite float >= 0\. Received: lam_power=nan"),
        (lambda: kmix.losses.DecoupledMixupLoss(threshold=NAN), r"`threshold` must be a finite float\. Received: threshold=nan"),
        (lambda: kmix.losses.LUMixLoss(noise_scale=INF), r"`noise_scale` must be a finite float >= 0\. Received: noise_scale=inf"),
        (lambda: kmix.losses.LUMixLoss(prediction_weight=NAN),
         r"`prediction_weight` must be a finite float >= 0\. Received: prediction_weight=nan"),
        (lambda: kmix.losses.RankMixupLoss(margin=INF), r"`margin` must be a finite float\. Received: margin=inf"),
        (lambda: kmix.losses.rank_mixup_mrl(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2, bool), margin=NAN),
         r"`margin` must be a finite float\. Received: margin=nan"),
        (lambda: kmix.losses.RankMixupLoss(weight=NAN), r"`weight` must be a finite float >= 0\. Received: weight=nan"),
        (lambda: kmix.losses.SMMixLoss(fine_weight=INF), r"`fine_weight` must be a finite float >= 0\. Received: fine_weight=inf"),
        (lambda: kmix.losses.SMMixLoss(consistency_weight=np.float32(NAN)),
         r"`consistency_weight` must be a finite float >= 0\. Received: consistency_weight=nan"),
    ],
)
def test_losses_refuse_non_finite_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ----------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------
METRICS = [
    lambda n: kmix.metrics.ExpectedCalibrationError(num_bins=n(10)),
    lambda n: kmix.metrics.AdaptiveCalibrationError(num_bins=n(7), max_samples=n(64)),
    lambda n: kmix.metrics.ClasswiseCalibrationError(num_classes=n(3), num_bins=n(5)),
]


@pytest.mark.parametrize("make", METRICS)
def test_metrics_take_numpy_scalars(make):
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), size=32).astype("float32")
    labels = rng.integers(0, 3, 32)
    metric, reference = make(_np), make(lambda v: v)
    _plain(metric.get_config())
    _same_config(metric, reference)
    metric.update_state(labels, probabilities)
    reference.update_state(labels, probabilities)
    assert float(metric.result()) == float(reference.result())


def test_calibration_functions_take_numpy_scalars():
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(4), size=40).astype("float32")
    labels = rng.integers(0, 4, 40)
    for fn in (kmix.metrics.expected_calibration_error, kmix.metrics.adaptive_calibration_error,
               kmix.metrics.classwise_calibration_error):
        assert float(fn(labels, probabilities, num_bins=np.int64(6))) == float(fn(labels, probabilities, num_bins=6))


# ----------------------------------------------------------------------
# ViT
# ----------------------------------------------------------------------
def _vit(n):
    return kmix.models.ViT(
        image_size=n(16), patch_size=n(4), num_classes=n(3), dim=n(16), depth=n(1), num_heads=n(2),
        mlp_ratio=n(2.0), drop_path_rate=n(0.125), dropout_rate=n(0.0), attention_dropout_rate=n(0.0),
        num_channels=n(3), layer_norm_epsilon=n(0.0009765625), seed=n(0),
    )


def test_vit_takes_numpy_scalars():
    vit, reference = _vit(_np), _vit(lambda v: v)
    config = _plain({k: v for k, v in vit.get_config().items() if k not in ("mixer", "label_layer")})
    assert type(config["image_size"]) is int and config["image_size"] == 16 and vit.grid_size == 4
    _same_config(vit, reference)
    images = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    vit(images)
    reference(images)
    reference.set_weights(vit.get_weights())  # `seed` seeds dropout, not the initial weights
    np.testing.assert_array_equal(vit(images).numpy(), reference(images).numpy())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mlp_ratio=INF), r"`mlp_ratio` must be a finite number > 0\. Received: mlp_ratio=inf"),
        (dict(drop_path_rate=NAN), r"`drop_path_rate` must be a finite float in \[0, 1\)\. Received: drop_path_rate=nan"),
        (dict(layer_norm_epsilon=INF), r"`layer_norm_epsilon` must be a finite float > 0\. Received: layer_norm_epsilon=inf"),
    ],
)
def test_vit_refuses_non_finite_arguments(kwargs, match):
    args = dict(image_size=16, patch_size=4, num_classes=3, dim=16, depth=1, num_heads=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kmix.models.ViT(**args)


# ----------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------
def test_shapes_dataset_takes_numpy_scalars():
    a = kmix.datasets.make_shapes_dataset(np.int64(4), image_size=np.int64(16), num_classes=np.int64(3),
                                          seed=np.int64(2))
    b = kmix.datasets.make_shapes_dataset(4, image_size=16, num_classes=3, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_digits_take_a_numpy_test_fraction():
    pytest.importorskip("sklearn")
    (_, a), (_, b) = kmix.datasets.load_digits(image_size=8, test_fraction=np.float32(0.25))
    (_, c), (_, d) = kmix.datasets.load_digits(image_size=8, test_fraction=0.25)
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, d)
    with pytest.raises(ValueError, match=r"`test_fraction` must be a finite float in \[0, 1\)\. Received: test_fraction=nan"):
        kmix.datasets.load_digits(test_fraction=NAN)
