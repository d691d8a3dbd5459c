"""TokenMix: token masks, teacher-map targets (tokenmix.json), layer behaviour, training."""

import importlib.util
import math
import random

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.ops.token_masks import block_mask_round
from kmix.ops.token_masks import block_token_masks
from kmix.ops.token_masks import random_token_masks
from kmix.ops.teacher_targets import tokenmix_scores
from kmix.ops.teacher_targets import tokenmix_targets
from kmix.ops.token_masks import tokenmix_token_counts
from kmix.models.mixing_mixin import step_strategy_for
from kmix.models.teacher_targets_step import TeacherTargetsStep
from tests.vectors import VECTORS
from tests.vectors import array
from tests.vectors import load



def _numpy_ref():
    spec = importlib.util.spec_from_file_location("tokenmix_numpy_ref", VECTORS / "tokenmix_numpy_ref.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _numpy_ref()
DATA = load("tokenmix")


def _case_inputs(case):
    inputs, outputs = case["inputs"], case["outputs"]
    k = inputs["num_classes"]
    dense = REF.dense_maps_from_topk(array(inputs["label_maps_topk"]), k)  # (B, K, G, G)
    maps = dense.transpose(0, 2, 3, 1).astype(np.float32)  # (B, G, G, K)
    labels = np.asarray(inputs["hard_labels"])
    mask_b = array(outputs["token_mask_b"], np.float32)
    batch = len(labels)
    return maps, labels, mask_b, batch, k, inputs["label_smoothing"]


# ----------------------------------------------------------------------
# Targets against the official run (given the recorded mask)
# ----------------------------------------------------------------------
@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_faithful_targets_match_the_official_call(case):
    maps, labels, mask_b, batch, k, smoothing = _case_inputs(case)
    index = np.arange(batch)[::-1].copy()
    masks = np.broadcast_to(mask_b, (batch,) + mask_b.shape)
    got = tokenmix_targets(maps, labels, index, masks, num_classes=k,
                           label_smoothing=smoothing, faithful=True).numpy()
    np.testing.assert_allclose(got, array(case["outputs"]["target"]), atol=1e-6)
    # Rows sum to s_a + s_b, not 1 (the official target is unnormalised).
    s_own, s_partner = tokenmix_scores(maps, labels, index, masks, k)
    np.testing.assert_allclose(got.sum(-1), (s_own + s_partner).numpy(), atol=1e-6)
    assert np.abs(got.sum(-1) - 1).max() > 1e-3


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_normalised_targets_weight_the_two_smoothed_labels_by_the_scores(case):
    maps, labels, mask_b, batch, k, smoothing = _case_inputs(case)
    index = np.arange(batch)[::-1].copy()
    masks = np.broadcast_to(mask_b, (batch,) + mask_b.shape)
    gt = maps.transpose(0, 3, 1, 2)[np.arange(batch), labels]
    _, s_a, s_b = REF.tokenmix_target(gt.astype(np.float64), labels, mask_b, k, smoothing)
    lam = s_a / (s_a + s_b)
    y = np.full((batch, k), smoothing / k)
    y[np.arange(batch), labels] += 1 - smoothing
    expected = lam[:, None] * y + (1 - lam[:, None]) * y[index]
    got = tokenmix_targets(maps, labels, index, masks, num_classes=k, label_smoothing=smoothing).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-6)


def test_targets_accept_one_hot_labels_and_fall_back_when_the_teacher_is_silent():
    maps = np.zeros((2, 2, 2, 3), np.float32)
    masks = np.zeros((2, 2, 2), np.float32)
    masks[:, 1] = 1
    got = tokenmix_targets(maps, np.eye(3, dtype=np.float32)[[0, 2]], [1, 0], masks,
                           fallback_lam=np.array([0.25, 0.75], np.float32)).numpy()
    np.testing.assert_allclose(got, [[0.25, 0, 0.75], [0.25, 0, 0.75]], atol=1e-7)


def test_binary_crossentropy_on_dense_targets_is_the_official_loss():
    # timm BinaryCrossEntropy with a dense target: mean over B x K of BCE-with-logits.
    case = DATA["cases"][0]
    target = array(case["outputs"]["target"], np.float32)
    logits = np.random.default_rng(0).normal(size=target.shape).astype(np.float32)
    reference = np.mean(np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits))))
    got = keras.losses.BinaryCrossentropy(from_logits=True)(target, logits)
    np.testing.assert_allclose(float(got), reference, rtol=1e-5)


def test_mixup_branch_vector_is_what_mixup_gives():
    # The official switch branch is plain MixUp: kmix.ops.mix_labels with the flip partner.
    branch = DATA["mixup_branch"]
    labels = np.asarray(branch["inputs"]["hard_labels"])
    lam = branch["outputs"]["lam_a"]
    plan = kmix.MixPlan(tf.constant(np.arange(4)[::-1].copy(), tf.int32), tf.fill([4, 1, 1, 1], lam),
                        tf.fill([4], np.float32(lam)))
    got = kmix.ops.mix_labels(labels, plan, num_classes=branch["inputs"]["num_classes"],
                              label_smoothing=branch["inputs"]["label_smoothing"])
    np.testing.assert_allclose(got.numpy(), array(branch["outputs"]["target"]), atol=1e-6)


# ----------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------
def _official_block_mask(rng, count, size=14, min_patches=1, min_aspect=0.3):
    """numpy/random restatement of TokenMix's generate_mask (Python's RNG).

    Also returns, per round, the draws of its (up to 10) attempts as uniforms
    `(u_area, u_aspect, u_top, u_left)` in the form `block_mask_round` reads.
    """
    lo, hi = math.log(min_aspect), math.log(1 / min_aspect)
    mask = np.zeros((size, size), int)
    covered, rounds = 0, []
    while covered < count:
        remaining, delta = count - covered, 0
        draws = np.full((10, 4), 0.5)
        for attempt in range(10):
            draws[attempt, 0] = u_area = rng.random()
            draws[attempt, 1] = u_aspect = rng.random()
            area = min_patches + (remaining - min_patches) * u_area  # random.uniform
            aspect = math.exp(lo + (hi - lo) * u_aspect)
            h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if w < size and h < size:
                top, left = rng.randint(0, size - h), rng.randint(0, size - w)
                draws[attempt, 2] = (top + 0.5) / (size - h + 1)
                draws[attempt, 3] = (left + 0.5) / (size - w + 1)
                if 0 < h * w - mask[top:top + h, left:left + w].sum() <= remaining:
                    delta = h * w - mask[top:top + h, left:left + w].sum()
                    mask[top:top + h, left:left + w] = 1
                if delta > 0:
                    break
        rounds.append(draws)
        if delta == 0:
            break
        covered += delta
    return mask, rounds


@pytest.mark.parametrize("case", DATA["cases"][:2], ids=[c["name"] for c in DATA["cases"][:2]])
def test_block_rounds_given_the_official_draws_rebuild_the_official_mask(case):
    # TokenMix's block mask uses only Python's `random` (seeded in the run).
    official, rounds = _official_block_mask(random.Random(case["inputs"]["seed_python_random_and_numpy"]), 112)
    expected = array(case["outputs"]["token_mask_b"], np.float32)
    np.testing.assert_array_equal(official, expected)
    mask = tf.zeros([1, 14, 14])
    done = tf.constant([False])
    for draws in rounds:
        mask, covered, done = block_mask_round(mask, tf.constant([112]), done, tf.constant(draws[None], tf.float32))
    np.testing.assert_array_equal(mask.numpy()[0], expected)
    assert bool(done.numpy()[0]) and int(covered.numpy()[0]) == expected.sum()
    assert len(rounds) > 3  # several rounds and attempts were replayed


def test_token_counts_follow_the_official_rule():
    assert tokenmix_token_counts([0.5], 196, 14).numpy().tolist() == [112]
    assert tokenmix_token_counts([0.0, 1.0, 0.3], 196, 14).numpy().tolist() == [196, 14, 151]
    with pytest.raises(ValueError, match=r"`minimum_tokens` must be an int >= 0. Received: minimum_tokens=-1"):
        tokenmix_token_counts([0.5], 196, -1)


def test_block_masks_have_the_official_distribution():
    rng = random.Random(0)
    official = np.stack([_official_block_mask(rng, 112)[0] for _ in range(300)]).astype(np.float32)
    ours = block_token_masks(tf.fill([300], 112), 14, 14, seed=3).numpy()
    assert ours.shape == (300, 14, 14) and set(np.unique(ours)) <= {0.0, 1.0}
    assert (ours.sum((1, 2)) <= 112).all()
    # Nearly always exactly the count, as the official loop.
    assert abs((ours.sum((1, 2)) == 112).mean() - (official.sum((1, 2)) == 112).mean()) < 0.05
    # Same spatial occupancy profile (blocks favour the centre).
    np.testing.assert_allclose(ours.mean(0).mean(1), official.mean(0).mean(1), atol=0.06)
    np.testing.assert_allclose(ours.mean(0).mean(0), official.mean(0).mean(0), atol=0.06)
    # Blocks, not scattered tokens: far fewer 4-neighbour boundaries than random masks.
    def edges(m):
        return np.abs(np.diff(m, axis=1)).sum() + np.abs(np.diff(m, axis=2)).sum()

    scattered = random_token_masks(tf.fill([300], 112), 14, 14, seed=3).numpy()
    assert edges(ours) < 0.6 * edges(scattered)
    assert abs(edges(ours) - edges(official)) < 0.15 * edges(official)


def test_block_masks_compile_under_xla_and_respect_small_counts():
    fn = tf.function(lambda counts, seed: block_token_masks(counts, 4, 6, seed), jit_compile=True)
    masks = fn(tf.constant([0, 1, 5, 12, 23]), tf.constant([4, 2])).numpy()
    counts = masks.sum((1, 2))
    assert counts[0] == 0 and counts[1] == 1
    assert (counts <= [0, 1, 5, 12, 23]).all() and counts[3] >= 8


def test_random_masks_take_exactly_the_count():
    masks = random_token_masks([0, 7, 16], 4, 4, seed=1).numpy()
    assert masks.sum((1, 2)).tolist() == [0.0, 7.0, 16.0]


# ----------------------------------------------------------------------
# The layer
# ----------------------------------------------------------------------
def _images(batch=6, size=16, seed=0):
    return np.random.default_rng(seed).random((batch, size, size, 3)).astype(np.float32)


@pytest.mark.parametrize("mask_type", ["block", "random"])
def test_one_token_mask_per_batch_with_the_official_count(mask_type):
    layer = kmix.layers.TokenMix(patch_size=4, mask_type=mask_type, minimum_tokens=2, seed=0)
    plan = layer.sample_plan(_images())
    tokens = kmix.ops.token_mask(plan.mask, 4).numpy()
    assert (tokens == tokens[:1]).all()  # the same mask for every row
    n_partner = 16 - tokens[0].sum()
    assert n_partner <= 10 and (mask_type == "block" or n_partner == 10)  # 16 // 2 + 2
    np.testing.assert_allclose(plan.lam.numpy(), 1 - n_partner / 16, rtol=1e-6)
    # Whole tokens: the pixel mask is constant on every 4x4 patch.
    pixels = plan.mask.numpy()[..., 0].reshape(6, 4, 4, 4, 4)
    assert (pixels == pixels[:, :, :1, :, :1]).all()


def test_per_sample_masks_and_drawn_ratios():
    layer = kmix.layers.TokenMix(patch_size=4, mask_type="random", lam_constant=None,
                                 minimum_tokens=0, lam_scope="sample", seed=0)
    plan = layer.sample_plan(_images(batch=12))
    tokens = kmix.ops.token_mask(plan.mask, 4).numpy()
    assert len({tuple(row) for row in tokens}) > 1
    assert len(set(np.round(plan.lam.numpy(), 4))) > 1


def test_mixed_pixels_come_from_the_row_or_its_partner_per_token():
    images = _images()
    layer = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, partner="flip", seed=4)
    plan = layer.sample_plan(images, seed=7)
    mixed = layer.mix_images(images, plan).numpy()
    own = plan.mask.numpy()
    expected = own * images + (1 - own) * images[::-1]
    np.testing.assert_allclose(mixed, expected, rtol=1e-6)


class TinyTeacher(keras.Model):
    """Score maps (B, 4, 4, K) on the 4x4 token grid of 16x16 images."""

    def __init__(self, num_classes=5, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.pool = keras.layers.AveragePooling2D(4)
        self.dense = keras.layers.Dense(num_classes, activation="softplus")

    def call(self, images):
        return self.dense(self.pool(images))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@pytest.mark.parametrize("faithful", [False, True])
def test_teacher_model_and_teacher_maps_give_the_content_targets(faithful):
    images, labels = _images(), np.array([0, 1, 2, 3, 4, 0])
    teacher = TinyTeacher()
    maps = teacher(images).numpy()
    common = dict(patch_size=4, minimum_tokens=2, num_classes=5, label_smoothing=0.1,
                  faithful_targets=faithful, seed=9)
    with_model = kmix.layers.TokenMix(teacher=teacher, **common)
    with_maps = kmix.layers.TokenMix(**common)
    twin = kmix.layers.TokenMix(**common)
    out_model = with_model({"images": images, "labels": labels})
    out_maps = with_maps({"images": images, "labels": labels, "teacher_maps": maps})
    plan = twin.sample_plan(images)
    partner = twin.partner_token_mask(plan, 16, 16)
    expected = tokenmix_targets(maps, labels, plan.index, partner, num_classes=5,
                                label_smoothing=0.1, faithful=faithful).numpy()
    np.testing.assert_allclose(out_model["labels"].numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(out_maps["labels"].numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(out_maps["images"].numpy(), twin.mix_images(images, plan).numpy(), rtol=1e-6)
    assert "teacher_maps" in out_maps
    # Content targets differ from area targets.
    area = kmix.ops.mix_labels(labels, plan, num_classes=5, label_smoothing=0.1).numpy()
    assert np.abs(out_model["labels"].numpy() - area).max() > 1e-3
    # The tuple form uses the teacher as well; training=False is the identity.
    x, y = kmix.layers.TokenMix(teacher=teacher, **common)(images, labels)
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-6)
    same = with_model({"images": images, "labels": labels}, training=False)
    np.testing.assert_array_equal(same["images"], images)
    np.testing.assert_array_equal(same["labels"], labels)


def test_teacher_targets_in_tf_data_and_under_xla():
    images, labels = _images(batch=8), np.arange(8) % 5
    teacher = TinyTeacher()
    layer = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=5, teacher=teacher, seed=1)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4).map(layer)
    for x, y in ds:
        assert x.shape == (4, 16, 16, 3) and y.shape == (4, 5)
        np.testing.assert_allclose(y.numpy().sum(-1), 1.0, atol=1e-6)
    fn = tf.function(lambda x, y, m: layer({"images": x, "labels": y, "teacher_maps": m}), jit_compile=True)
    out = fn(images, labels, teacher(images))
    np.testing.assert_allclose(out["labels"].numpy().sum(-1), 1.0, atol=1e-6)


def test_teacher_is_not_a_tracked_sublayer_and_the_config_round_trips():
    teacher = TinyTeacher()
    teacher(_images(batch=1))
    layer = kmix.layers.TokenMix(patch_size=4, mask_type="random", minimum_tokens=3, lam_constant=0.25,
                                 teacher=teacher, faithful_targets=True, num_classes=5, seed=2)
    assert not layer.weights
    config = layer.get_config()
    for key in ("patch_size", "mask_type", "minimum_tokens", "lam_constant", "teacher", "faithful_targets"):
        assert key in config
    clone = kmix.layers.TokenMix.from_config(config)
    assert isinstance(clone.teacher, TinyTeacher) and clone.teacher.num_classes == 5
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert restored.faithful_targets and restored.lam_constant == 0.25


keras.saving.register_keras_serializable("kmix_tests")(TinyTeacher)


# ----------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------
def test_errors():
    images = _images()
    with pytest.raises(ValueError, match=r"multiples of `patch_size` .* Received: patch_size=5 and images of size 16x16"):
        kmix.layers.TokenMix(patch_size=5, minimum_tokens=0)(images)
    with pytest.raises(ValueError, match=r"`minimum_tokens` must be smaller than the number of tokens N=16 .* Received: minimum_tokens=16"):
        kmix.layers.TokenMix(patch_size=4, minimum_tokens=16)(images)
    with pytest.raises(ValueError, match=r"`minimum_tokens` must be an int >= 0 .* Received: minimum_tokens=-1"):
        kmix.layers.TokenMix(minimum_tokens=-1)
    with pytest.raises(ValueError, match=r"`mask_type` must be one of \('block', 'random'\). Received: mask_type='box'"):
        kmix.layers.TokenMix(mask_type="box")
    with pytest.raises(ValueError, match=r"`lam_constant` must be None or a float in \[0, 1\]. Received: lam_constant=1.5"):
        kmix.layers.TokenMix(lam_constant=1.5)
    with pytest.raises(ValueError, match=r"`patch_size` must be an int >= 1. Received: patch_size=0"):
        kmix.layers.TokenMix(patch_size=0)
    with pytest.raises(TypeError, match=r"`teacher` must be a Keras model .* Received: teacher of type function"):
        kmix.layers.TokenMix(teacher=lambda x: x)
    layer = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=5)
    bad = np.zeros((6, 8, 8, 5), np.float32)
    with pytest.raises(ValueError, match=r"Teacher maps must have shape \(B, 4, 4, 5\).*Received: teacher_maps.shape=\(6, 8, 8, 5\)"):
        layer({"images": images, "labels": np.arange(6) % 5, "teacher_maps": bad})
    with pytest.raises(ValueError, match=r"Teacher maps must have shape \(B, 4, 4, 5\).*Received: teacher_maps.shape=\(6, 4, 4, 3\)"):
        layer({"images": images, "labels": np.arange(6) % 5, "teacher_maps": np.zeros((6, 4, 4, 3), np.float32)})
    wrong_teacher = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=5, teacher=TinyTeacher(num_classes=3))
    with pytest.raises(ValueError, match=r"Teacher maps must have shape \(B, 4, 4, 5\)"):
        wrong_teacher(images, np.arange(6) % 5)


# ----------------------------------------------------------------------
# Training a tiny ViT
# ----------------------------------------------------------------------
def _vit(mixer):
    return kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16, depth=2, num_heads=2,
                           mixer=mixer, seed=0)


@pytest.mark.slow
def test_trains_a_tiny_vit_under_xla():
    model = _vit(kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=3, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), jit_compile=True)
    images = _images(batch=16)
    history = model.fit(images, np.arange(16) % 3, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))


def test_teacher_targets_in_the_train_step_of_a_vit():
    teacher = TinyTeacher(num_classes=3)
    mixer = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=3, label_smoothing=0.1,
                                 teacher=teacher, partner="flip", seed=0)
    model = _vit(mixer)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=kmix.losses.MixupCrossentropy())
    images, labels = _images(batch=4), np.array([0, 1, 2, 1])
    model(images)
    metrics = model.train_step((tf.constant(images), tf.constant(labels)))
    record = kmix.step_record.get_record()
    plan = record.plans[0]
    expected_targets = tokenmix_targets(teacher(images), labels, plan.index,
                                        mixer.partner_token_mask(plan, 16, 16), label_smoothing=0.1)
    np.testing.assert_allclose(record.teacher_targets.numpy(), expected_targets.numpy(), atol=1e-6)
    logits = model(mixer.mix_images(images, plan), training=True).numpy()
    z = logits - logits.max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    expected = -(expected_targets.numpy() * log_p).sum(-1).mean()
    np.testing.assert_allclose(float(metrics["loss"]), expected, rtol=1e-5)
    kmix.step_record.clear_record()
    # Without a teacher the mixin's ordinary step runs.
    assert step_strategy_for(kmix.layers.TokenMix()) is None
    assert step_strategy_for(mixer) is TeacherTargetsStep


@pytest.mark.slow
def test_faithful_teacher_targets_train_with_binary_crossentropy_under_xla():
    mixer = kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=3, label_smoothing=0.1,
                                 teacher=TinyTeacher(num_classes=3), faithful_targets=True, seed=0)
    model = _vit(mixer)
    model.compile(optimizer="sgd", loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=True)
    history = model.fit(_images(batch=16), np.arange(16) % 3, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"])) and "accuracy" in history.history


@pytest.mark.slow
def test_trains_under_mirrored_strategy_on_two_logical_cpus(two_cpus):
    with two_cpus.scope():
        model = kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16, depth=2, num_heads=2,
                                mixer=kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=3, seed=0),
                                seed=0)
        # (XLA is tested on one device: TF's XLA cannot read variables placed on
        # another logical CPU, a known TensorFlow limitation.)
        model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy(), jit_compile=False)
    images = np.random.default_rng(0).random((16, 16, 16, 3)).astype("float32")
    history = model.fit(images, np.arange(16) % 3, batch_size=8, epochs=1, verbose=0)
    assert all(np.isfinite(history.history["loss"])), history.history
    images = np.random.default_rng(1).random((16, 16, 16, 3)).astype("float32")
    with two_cpus.scope():
        teacher = keras.Sequential([keras.layers.AveragePooling2D(4), keras.layers.Dense(3, activation="softplus")])
        teacher(images[:1])  # a teacher's variables must exist before a distributed fit
        model = kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16, depth=2, num_heads=2,
                                mixer=kmix.layers.TokenMix(patch_size=4, minimum_tokens=2, num_classes=3,
                                                           teacher=teacher, seed=0), seed=0)
        model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    history = model.fit(images, np.arange(16) % 3, batch_size=8, epochs=1, verbose=0)
    assert all(np.isfinite(history.history["loss"])), history.history
