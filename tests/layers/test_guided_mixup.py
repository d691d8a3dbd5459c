"""GuidedMixup: the official 'guided-sr' mixed images and label weights, given the same images."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests import vectors

DATA = vectors.load("guidedmixup")
K = 5


def _official(case):
    images = vectors.array(case["pixels"]).astype(np.float32) / 255.0
    return images.transpose(0, 2, 3, 1)


@pytest.mark.parametrize("case", [c for c in DATA["cases"] if "pixels" in c], ids=lambda c: c["name"])
def test_mixed_images_and_labels_equal_the_official(case):
    images = _official(case)
    labels = np.arange(len(images)) % K
    layer = kmix.layers.GuidedMixup(num_classes=K, blur_sigma=case["blur_sigma"], seed=0)
    plan = layer.sample_plan(images)
    assert plan.index.numpy().tolist() == case["index"]
    np.testing.assert_allclose(plan.lam.numpy(), vectors.array(case["lam"]), atol=1e-6)
    mixed, soft = layer(images, labels)
    np.testing.assert_allclose(mixed.numpy().transpose(0, 3, 1, 2)[:, :, :4, :4],
                               vectors.array(case["mixed_corner"]), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(mixed.numpy().sum((1, 2, 3)), vectors.array(case["mixed_row_sums"]), rtol=1e-5)
    # Labels: the official lam_a * y_a + lam_b * y_b, with lam measured from the mask.
    eye = np.eye(K, dtype=np.float32)
    lam = vectors.array(case["lam"])[:, None]
    expected = lam * eye[labels] + vectors.array(case["lam_partner"])[:, None] * eye[labels[case["index"]]]
    np.testing.assert_allclose(soft.numpy(), expected, atol=2e-6)


def test_the_default_plan_is_a_function_of_the_images_and_the_seed_still_advances():
    images = _official(DATA["cases"][0])
    layer = kmix.layers.GuidedMixup(num_classes=K, seed=1)
    start = layer.generator.state.numpy().copy()
    a, b = layer(images), layer(images)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert layer.generator.state.numpy()[1] == start[1] + 2
    # With a sigma range (the FGVC code's draw) the plans change per call.
    drawn = kmix.layers.GuidedMixup(num_classes=K, blur_sigma=(0.5, 3.0), seed=1)
    assert not np.array_equal(drawn(images).numpy(), drawn(images).numpy())


def test_given_saliency_maps_random_pairing_and_a_mix_probability():
    images = _official(DATA["cases"][0])
    labels = np.arange(8) % K
    layer = kmix.layers.GuidedMixup(num_classes=K, seed=0)
    # Given maps (e.g. the paper's gradient maps): a map that is large on the
    # left half keeps the left half of its own image, mostly.
    maps = np.ones((8, 16, 16), np.float32)
    maps[::2, :, :8] = 100.0
    out = layer({"images": images, "labels": labels, "saliency": maps})
    plan = layer.sample_plan(images, saliency=maps)
    np.testing.assert_allclose(out["images"].numpy(), layer.mix_images(images, plan).numpy(), rtol=1e-6)
    assert set(out) == {"images", "labels", "saliency"}
    assert plan.mask.numpy()[0, :, :8].min() > 0.5 and plan.mask.numpy()[1, :, :8].max() < 0.5
    # pairing="random": partners from `partner` ("flip" here), masks as before.
    flip = kmix.layers.GuidedMixup(num_classes=K, pairing="random", partner="flip", seed=0)
    assert flip.sample_plan(images).index.numpy().tolist() == list(range(7, -1, -1))
    # The official mix_prob ('sr'): RandomMixChoice's no_mix_probability too.
    choice = kmix.layers.RandomMixChoice([kmix.layers.GuidedMixup()], no_mix_probability=1.0,
                                         num_classes=K, seed=0)
    np.testing.assert_allclose(choice(images, labels)[0].numpy(), images, atol=1e-6)


def test_in_a_mixing_model_fit():
    images = _official(DATA["cases"][0])
    labels = np.arange(8) % K
    inputs = keras.Input((16, 16, 3))
    logits = keras.layers.Dense(K)(keras.layers.GlobalAveragePooling2D()(inputs))
    model = kmix.models.MixingModel(inputs, logits, mixer=kmix.layers.GuidedMixup(num_classes=K, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("kwargs, match", [
    ({"saliency": "cam"}, r"`saliency` must be one of \('spectral_residual', 'gradient'\). Received: saliency='cam'"),
    ({"probability": 1.5}, r"probability"),
    ({"pairing": "nearest"}, r"`pairing` must be one of \('greedy', 'random'\). Received: pairing='nearest'"),
    ({"blur_size": 4}, r"`blur_size` must be an odd int >= 1, or 0 \(no blur\). Received: blur_size=4"),
    ({"blur_sigma": 0.0}, r"blur_sigma"),
    ({"blur_sigma": (1.0, 2.0, 3.0)}, r"`blur_sigma` must be a float > 0 or a pair \(low, high\).*Received: blur_sigma=\(1.0, 2.0, 3.0\)"),
    ({"blur_sigma": (2.0, 1.0)}, r"blur_sigma\[1\]"),
])
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kmix.layers.GuidedMixup(**kwargs)


def test_call_errors():
    images = np.zeros((4, 8, 8, 3), np.float32)
    layer = kmix.layers.GuidedMixup(num_classes=K)
    with pytest.raises(ValueError, match=r"'saliency' maps must be \(B, H, W\), the size of the images \(H=8, W=8\). Received: saliency.shape=\(4, 8, 6\)"):
        layer({"images": images, "labels": np.arange(4), "saliency": np.ones((4, 8, 6), np.float32)})
    with pytest.raises(ValueError, match=r"call it on the images, or use `sample_plan\(images\)`"):
        layer.sample_mask(tf.constant(4), 8, 8, tf.constant([0, 0]))
    # The gradient maps come from MixingModel's step or the 'saliency' entry.
    gradient = kmix.layers.GuidedMixup(saliency="gradient", num_classes=K)
    assert gradient.needs_model and not layer.needs_model
    gradient_error = r"saliency='gradient'\) mixes by the input gradients.*MixingModel.*'saliency'.*Received: images without saliency maps"
    with pytest.raises(ValueError, match=gradient_error):
        gradient(images, np.arange(4))
    with pytest.raises(ValueError, match=gradient_error):
        gradient.sample_plan(images)
    with pytest.raises(ValueError, match=r"holding GuidedMixup chooses among mixers that mix inside a model's train step"):
        kmix.layers.RandomMixChoice([gradient])(images, np.arange(4))


def test_probability_leaves_batches_or_rows_unmixed():
    images = _official(DATA["cases"][0])
    never = kmix.layers.GuidedMixup(num_classes=K, probability=0.0, seed=0)
    plan = never.sample_plan(images)
    np.testing.assert_array_equal(plan.lam.numpy(), np.ones(8, np.float32))
    always = kmix.layers.GuidedMixup(num_classes=K, seed=0).sample_plan(images)
    rows = kmix.layers.GuidedMixup(num_classes=K, probability=0.5, lam_scope="sample", seed=0)
    lam = np.stack([rows.sample_plan(images, seed=s).lam.numpy() for s in range(4)])
    mixed = lam < 1.0
    assert 0 < mixed.mean() < 1 and len({tuple(r) for r in mixed}) > 1
    np.testing.assert_allclose(lam[mixed], np.broadcast_to(always.lam.numpy(), lam.shape)[mixed])
    # The pairing and masks of the mixed rows are those of probability=1; the
    # gradient maps, given as the 'saliency' entry, mix the same way.
    maps = np.random.default_rng(0).random((8, 16, 16)).astype("float32")
    gradient = kmix.layers.GuidedMixup(saliency="gradient", num_classes=K, seed=0)
    same = kmix.layers.GuidedMixup(num_classes=K, seed=0)
    np.testing.assert_array_equal(gradient.sample_plan(images, saliency=maps).mask.numpy(),
                                  same.sample_plan(images, saliency=maps).mask.numpy())
    assert kmix.layers.GuidedMixup.from_config(rows.get_config()).probability == 0.5
