import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests import vectors


def _plan(index, lam, mask=None):
    lam = np.asarray(lam, np.float32)
    if mask is None:
        mask = lam.reshape(-1, 1, 1, 1)
    return kmix.MixPlan(tf.constant(index, tf.int32), tf.constant(mask, tf.float32), tf.constant(lam))


def test_mix_images_matches_formula():
    rng = np.random.default_rng(0)
    images = rng.random((3, 4, 5, 2)).astype(np.float32)
    mask = (rng.random((3, 4, 5, 1)) > 0.5).astype(np.float32)
    plan = kmix.MixPlan(tf.constant([2, 0, 1]), tf.constant(mask), tf.constant(mask.mean((1, 2, 3))))
    expected = mask * images + (1 - mask) * images[[2, 0, 1]]
    np.testing.assert_allclose(kmix.ops.mix_images(images, plan).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_mix_images_channels_first():
    rng = np.random.default_rng(1)
    images = rng.random((2, 3, 4, 4)).astype(np.float32)
    mask = (rng.random((2, 4, 4, 1)) > 0.5).astype(np.float32)
    plan = kmix.MixPlan(tf.constant([1, 0]), tf.constant(mask), tf.constant(mask.mean((1, 2, 3))))
    out = kmix.ops.mix_images(images, plan, data_format="channels_first").numpy()
    m = mask.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, m * images + (1 - m) * images[[1, 0]], rtol=1e-6, atol=1e-6)


def test_mix_images_integer_input_gives_float32():
    images = np.full((2, 2, 2, 1), 200, np.uint8)
    images[1] = 100
    out = kmix.ops.mix_images(images, _plan([1, 0], [0.25, 0.25]))
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy()[0], 0.25 * 200 + 0.75 * 100)


@pytest.mark.parametrize("labels", [np.array([0, 2, 1]), np.array([[0], [2], [1]])])
def test_mix_labels_from_class_ids(labels):
    plan = _plan([1, 2, 0], [0.7, 0.6, 1.0])
    out = kmix.ops.mix_labels(labels, plan, num_classes=3).numpy()
    eye = np.eye(3, dtype=np.float32)[[0, 2, 1]]
    lam = np.array([0.7, 0.6, 1.0], np.float32)[:, None]
    np.testing.assert_allclose(out, lam * eye + (1 - lam) * eye[[1, 2, 0]], rtol=1e-6)
    assert out.dtype == np.float32


def test_mix_labels_smoothing_applies_to_both_one_hots_first():
    plan = _plan([1, 0], [0.7, 0.3])
    out = kmix.ops.mix_labels(np.array([0, 1]), plan, num_classes=4, label_smoothing=0.1).numpy()
    smooth = np.full((2, 4), 0.1 / 4, np.float32)
    smooth[0, 0] = smooth[1, 1] = 1 - 0.1 + 0.1 / 4
    lam = np.array([[0.7], [0.3]], np.float32)
    np.testing.assert_allclose(out, lam * smooth + (1 - lam) * smooth[[1, 0]], rtol=1e-6)
    np.testing.assert_allclose(out.sum(1), 1.0, rtol=1e-6)


def timm_cases():
    data = vectors.load("timm_soft_target")
    target = np.asarray(data["target"])
    for case in data["cases"]:
        if "mixed_target" in case:
            lam = np.broadcast_to(np.asarray(case["lam"], np.float32).reshape(-1), target.shape)
            yield data, target, lam, case


def test_mix_labels_matches_timm_soft_targets():
    checked = 0
    for data, target, lam, case in timm_cases():
        plan = _plan(np.arange(len(target))[::-1].copy(), lam)  # timm: i with B - 1 - i
        out = kmix.ops.mix_labels(
            target, plan, num_classes=data["C"], label_smoothing=case["smoothing"]
        ).numpy()
        np.testing.assert_allclose(out, np.asarray(case["mixed_target"]), atol=1e-6)
        checked += 1
    assert checked == 7


def test_identity_plan_is_a_no_op():
    images = np.random.default_rng(0).random((4, 6, 6, 3)).astype(np.float32)
    plan = kmix.mix_plan.identity_plan(4, (6, 6))
    np.testing.assert_array_equal(kmix.ops.mix_images(images, plan).numpy(), images)
    labels = np.eye(5, dtype=np.float32)[[0, 3, 1, 4]]
    np.testing.assert_array_equal(kmix.ops.mix_labels(labels, plan).numpy(), labels)


def test_lam_from_mask_is_the_spatial_mean():
    mask = np.random.default_rng(0).random((3, 5, 7, 1)).astype(np.float32)
    np.testing.assert_allclose(kmix.ops.lam_from_mask(mask).numpy(), mask.mean((1, 2, 3)), rtol=1e-6)


def test_label_errors():
    plan = _plan([1, 0], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"Class-id `labels` need `num_classes`.*Received: labels.shape=\(2,\) with dtype=int64 and num_classes=None"):
        kmix.ops.mix_labels(np.array([0, 1]), plan)
    with pytest.raises(ValueError, match=r"class ids must be in \[0, num_classes\)=\[0, 3\)\. Received: labels with min=0 and max=3"):
        kmix.ops.mix_labels(np.array([0, 3]), plan, num_classes=3)
    with pytest.raises(ValueError, match=r"class ids must be in .* min=-1"):
        kmix.ops.mix_labels(np.array([-1, 0]), plan, num_classes=3)
    with pytest.raises(ValueError, match=r"Soft `labels` must have shape \(B, num_classes\)=\(B, 4\)\. Received: labels.shape=\(2, 3\)"):
        kmix.ops.mix_labels(np.eye(3, dtype=np.float32)[:2], plan, num_classes=4)
    with pytest.raises(ValueError, match=r"`label_smoothing` must be a float in \[0, 1\)\. Received: label_smoothing=1.5"):
        kmix.ops.mix_labels(np.array([0, 1]), plan, num_classes=3, label_smoothing=1.5)


def test_out_of_range_ids_in_a_graph_fail_at_run_time():
    plan = _plan([1, 0], [0.5, 0.5])
    fn = tf.function(lambda y: kmix.ops.mix_labels(y, plan, num_classes=3))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"class ids must be in \[0, num_classes\)"):
        fn(tf.constant([0, 7]))


def test_out_of_range_ids_under_xla_give_nan_not_a_silent_zero_row():
    plan = _plan([0, 1], [1.0, 1.0])
    fn = tf.function(lambda y: kmix.ops.mix_labels(y, plan, num_classes=3), jit_compile=True)
    out = fn(tf.constant([0, 7])).numpy()
    assert np.all(np.isfinite(out[0])) and np.all(np.isnan(out[1]))


# Float class ids: whole numbers are ids (Keras casts integer ids to float
# before a loss); anything else is refused, never rounded.
FLOAT_IDS = r"Float `labels` of shape \(B,\) or \(B, 1\) are read as class ids and must hold whole numbers.*soft labels must have shape \(B, K\)"


@pytest.mark.parametrize("labels", [np.array([0.0, 2.0, 1.0], np.float32), np.array([[0.0], [2.0], [1.0]]),
                                    tf.constant([0.0, 2.0, 1.0], tf.bfloat16)])
def test_float_labels_holding_whole_numbers_are_class_ids(labels):
    out = kmix.ops.one_hot_labels(labels, num_classes=3).numpy()
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[0, 2, 1]])


@pytest.mark.parametrize("bad", [0.3, 1.7, float("nan"), float("inf")])
def test_float_ids_that_are_not_whole_numbers_are_refused(bad):
    plan = _plan([1, 2, 0], [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=FLOAT_IDS + r".* Received: labels.shape=\(3,\) with dtype=float32 and values that are not whole numbers, such as " + str(bad)):
        kmix.ops.mix_labels(np.array([0.0, bad, 1.0], np.float32), plan, num_classes=3)
    with pytest.raises(ValueError, match=FLOAT_IDS + r".* Received: labels.shape=\(3, 1\)"):
        kmix.ops.one_hot_labels(np.array([[0.0], [bad], [1.0]]), num_classes=3)


def test_float_ids_that_are_not_whole_numbers_in_a_layer_eager_graph_and_tf_data():
    images = np.zeros((4, 8, 8, 3), np.float32)
    labels = np.array([0.3, 1.0, 2.0, 0.0], np.float32)
    layer = kmix.layers.MixUp(num_classes=3)
    with pytest.raises(ValueError, match=FLOAT_IDS):
        layer(images, labels)
    fn = tf.function(lambda x, y: layer(x, y))
    with pytest.raises(tf.errors.InvalidArgumentError, match=FLOAT_IDS):
        fn(images, labels)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4).map(kmix.layers.MixUp(num_classes=3))
    with pytest.raises(tf.errors.InvalidArgumentError, match=FLOAT_IDS):
        list(ds)


def test_float_ids_that_are_not_whole_numbers_under_xla_give_nan():
    fn = tf.function(lambda y: kmix.ops.one_hot_labels(y, num_classes=3), jit_compile=True)
    out = fn(tf.constant([0.0, 0.3, 1.7, 2.0])).numpy()
    assert np.all(np.isnan(out[1])) and np.all(np.isnan(out[2]))
    np.testing.assert_array_equal(out[[0, 3]], np.eye(3, dtype=np.float32)[[0, 2]])


def test_numpy_integer_num_classes():
    plan = _plan([1, 0], [0.75, 0.25])
    a = kmix.ops.mix_labels(np.array([0, 2]), plan, num_classes=np.int64(3))
    b = kmix.ops.mix_labels(np.array([0, 2]), plan, num_classes=3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(
        kmix.ops.token_mask(tf.ones((1, 8, 8, 1)), np.int64(4)).numpy(), kmix.ops.token_mask(tf.ones((1, 8, 8, 1)), 4).numpy()
    )
    np.testing.assert_array_equal(
        kmix.ops.sample_beta((4,), alpha=np.float32(0.5), seed=np.int64(1)).numpy(),
        kmix.ops.sample_beta((4,), alpha=0.5, seed=1).numpy(),
    )


@pytest.mark.parametrize("alpha", [float("inf"), np.float32("nan")])
def test_sample_beta_refuses_non_finite_alpha(alpha):
    with pytest.raises(ValueError, match=r"`alpha` must be a finite float > 0\. Received: alpha="):
        kmix.ops.sample_beta((4,), alpha=alpha, seed=0)
