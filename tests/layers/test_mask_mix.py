"""MaskMix (MixPro): cells, token alignment, lam, errors (grid ops and vectors: tests/ops/test_grid.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from kmix.layers.mask_mix import MaskMix
from kmix.ops import grid
from kmix.ops.sampling import sample_beta
from kmix.ops.seeds import split_seed


# ----------------------------------------------------------------------
# The layer
# ----------------------------------------------------------------------
def _cells_of(mask, cell):
    """Reads the cell grid back from a pixel mask, checking each cell is uniform."""
    m = mask[..., 0]
    b, h, w = m.shape
    gh, gw = -(-h // cell), -(-w // cell)
    out = np.zeros((b, gh, gw))
    for i in range(gh):
        for j in range(gw):
            block = m[:, i * cell : (i + 1) * cell, j * cell : (j + 1) * cell]
            assert np.all(block == block[:, :1, :1]), "a cell is not uniform"
            out[:, i, j] = block[:, 0, 0]
    return out


@pytest.mark.parametrize("lam_scope", ["batch", "sample"])
def test_layer_counts_are_ceil_of_the_drawn_ratio(lam_scope):
    images = np.zeros((8, 64, 64, 3), np.float32)
    layer = MaskMix(mask_patch_size=16, patch_size=8, alpha=0.7, lam_scope=lam_scope)
    for k in range(3):
        seed = tf.constant([k, 9])
        plan = layer.sample_plan(images, seed=seed)
        cells = _cells_of(plan.mask.numpy(), 16)
        counts = cells.reshape(8, -1).sum(1)
        # Recompute the ratio the layer drew (base: split into index/mask seeds;
        # MaskMix: split the mask seed into ratio/cells seeds).
        _, seed_mask = split_seed(seed, 2)
        seed_ratio, _ = split_seed(seed_mask, 2)
        ratio = sample_beta([1 if lam_scope == "batch" else 8], 0.7, seed_ratio).numpy()
        expected = np.clip(np.ceil(16 * ratio.astype(np.float32)), 1, 16)
        np.testing.assert_array_equal(counts, np.broadcast_to(expected, [8]))
        np.testing.assert_allclose(plan.lam.numpy(), counts / 16, atol=1e-7)


def test_rows_get_their_own_cells_and_counts_are_uniform_for_alpha_one():
    images = np.zeros((256, 32, 32, 1), np.float32)
    plan = MaskMix(mask_patch_size=16, patch_size=16, lam_scope="sample", seed=0).sample_plan(images)
    counts = _cells_of(plan.mask.numpy(), 16).reshape(256, -1).sum(1)
    # n = ceil(4 r) with r ~ U(0, 1) is uniform over {1, 2, 3, 4}.
    freq = np.bincount(counts.astype(int), minlength=5)[1:] / 256
    np.testing.assert_allclose(freq, 0.25, atol=0.08)

    batch = MaskMix(mask_patch_size=8, patch_size=4, seed=3).sample_plan(np.zeros((8, 32, 32, 1)))
    cells = _cells_of(batch.mask.numpy(), 8).reshape(8, -1)
    assert len(set(cells.sum(1).tolist())) == 1  # one ratio per batch
    assert cells.sum(1)[0] < 16 and len({row.tobytes() for row in cells}) > 1


def test_cells_align_with_the_patch_grid_on_non_square_images():
    images = np.zeros((4, 24, 40, 3), np.float32)
    layer = MaskMix(mask_patch_size=16, patch_size=8, lam_scope="sample", seed=1)
    plan = layer.sample_plan(images)
    mask = plan.mask.numpy()
    assert mask.shape == (4, 24, 40, 1)
    cells = _cells_of(mask, 16)  # 2 x 3 cells; the last row and column cropped to 8 px
    assert cells.shape == (4, 2, 3)
    tokens = kmix.ops.token_mask(plan.mask, 8).numpy()
    np.testing.assert_array_equal(
        tokens, grid.grid_to_token_mask(cells, 16, 8, 24, 40).numpy()
    )
    # Each 8x8 patch comes wholly from one image.
    patches = mask[..., 0].reshape(4, 3, 8, 5, 8)
    assert np.all(patches.min(axis=(2, 4)) == patches.max(axis=(2, 4)))
    # Deviation from MixPro: lam is the cropped mask's mean, not n / (Gh * Gw).
    weights = np.outer([16, 8], [16, 16, 8]) / (24 * 40)
    np.testing.assert_allclose(plan.lam.numpy(), (cells * weights).sum(axis=(1, 2)), atol=1e-6)
    official = cells.reshape(4, -1).mean(1)
    assert np.abs(plan.lam.numpy() - official).max() > 0.01


def test_mixed_pixels_come_from_the_plan():
    rng = np.random.default_rng(0)
    images = rng.random((6, 32, 32, 3)).astype(np.float32)
    layer = MaskMix(mask_patch_size=8, patch_size=4, num_classes=6, seed=5)
    plan = MaskMix(mask_patch_size=8, patch_size=4, num_classes=6, seed=5).sample_plan(images)
    x, y = layer(images, np.arange(6))
    m = plan.mask.numpy()
    np.testing.assert_array_equal(x.numpy(), np.where(m > 0.5, images, images[plan.index.numpy()]))
    np.testing.assert_allclose(np.diag(y.numpy()), plan.lam.numpy(), atol=1e-6)


def test_compiles_under_xla_and_runs_in_tf_data():
    images = np.random.default_rng(0).random((11, 16, 16, 3)).astype(np.float32)
    layer = MaskMix(mask_patch_size=8, patch_size=4, lam_scope="sample", num_classes=11, seed=0)
    x, y = tf.function(lambda a, b: layer(a, b), jit_compile=True)(images[:6], np.arange(6))
    assert x.shape == (6, 16, 16, 3)
    np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-6)
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(11))).batch(4).map(layer)
    assert ds.element_spec[0].shape.as_list() == [None, 16, 16, 3]
    assert [int(x.shape[0]) for x, _ in ds] == [4, 4, 3]


def test_get_config_has_every_argument_and_round_trips():
    layer = MaskMix(alpha=0.5, mask_patch_size=48, patch_size=16, lam_scope="sample", seed=2)
    config = layer.get_config()
    assert config["mask_patch_size"] == 48 and config["patch_size"] == 16 and config["alpha"] == 0.5
    assert MaskMix.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is MaskMix and restored.get_config() == config


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(mask_patch_size=56, patch_size=16), ValueError,
         r"`mask_patch_size` must be a multiple of `patch_size`.*Received: mask_patch_size=56 and patch_size=16"),
        (dict(mask_patch_size=8, patch_size=16), ValueError,
         r"Received: mask_patch_size=8 and patch_size=16"),
        (dict(mask_patch_size=0), ValueError, r"`mask_patch_size` must be an int >= 1\. Received: mask_patch_size=0"),
        (dict(mask_patch_size=32.0), TypeError, r"`mask_patch_size` must be an int >= 1\. Received: mask_patch_size=32.0"),
        (dict(patch_size=True), TypeError, r"`patch_size` must be an int >= 1\. Received: patch_size=True"),
        (dict(alpha=-1.0), ValueError, r"`alpha` must be a float > 0\. Received: alpha=-1.0"),
    ],
)
def test_constructor_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        MaskMix(**kwargs)


def test_images_of_unknown_size_are_refused():
    layer = MaskMix(mask_patch_size=8, patch_size=4)
    fn = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec([None, None, None, 3])])
    with pytest.raises(ValueError, match=r"MaskMix needs the image height and width known statically"):
        fn.get_concrete_function()


# ----------------------------------------------------------------------
# A grid of one cell never mixes: refused before any work
# ----------------------------------------------------------------------
def _state(layer):
    return layer.generator.state.numpy().tolist()


ONE_CELL = r"`mask_patch_size` must be smaller than the image height or width.*at least 2 cells.*"


@pytest.mark.parametrize("size", [32, 16])
def test_default_cells_on_small_images_are_refused_before_work(size):
    layer = MaskMix(num_classes=3, seed=0)  # mask_patch_size=32, patch_size=16
    images = np.zeros((4, size, size, 3), np.float32)
    match = ONE_CELL + rf"Received: mask_patch_size=32 and images of size {size}x{size} \(a 1x1 grid\)"
    before = _state(layer)
    with pytest.raises(ValueError, match=match):
        layer(images, np.arange(4) % 3)
    with pytest.raises(ValueError, match=match):
        layer.sample_plan(images)
    with pytest.raises(ValueError, match=match):
        tf.function(lambda x: layer(x))(tf.constant(images))
    assert _state(layer) == before, "the layer sampled before refusing its input"


def test_the_message_says_what_to_pass_for_cifar_sized_images():
    with pytest.raises(ValueError, match=r"For 32x32 images pass e\.g\. mask_patch_size=8 with patch_size=4"):
        MaskMix().sample_plan(np.zeros((2, 32, 32, 3), np.float32))
    # ... and that works: a 4x4 grid that mixes.
    plan = MaskMix(mask_patch_size=8, patch_size=4, seed=0).sample_plan(np.zeros((8, 32, 32, 3), np.float32))
    assert plan.lam.numpy().min() < 1.0


def test_a_one_cell_member_of_random_mix_choice_is_refused():
    mixer = kmix.layers.RandomMixChoice([kmix.layers.CutMix(), MaskMix()], num_classes=3, seed=0)
    images = np.zeros((4, 32, 32, 3), np.float32)
    before = _state(mixer)
    with pytest.raises(ValueError, match=ONE_CELL + r"mask_patch_size=32 and images of size 32x32"):
        mixer(images, np.arange(4) % 3)
    with pytest.raises(ValueError, match=ONE_CELL):
        mixer.sample_plan(images)
    assert _state(mixer) == before


def test_two_cells_are_enough():
    # 48x32 with 32-pixel cells: a 2x1 grid, cropped.
    plan = MaskMix(seed=0, lam_scope="sample").sample_plan(np.zeros((64, 48, 32, 3), np.float32))
    assert plan.mask.shape == (64, 48, 32, 1)
    assert plan.lam.numpy().min() < 1.0


def test_plain_tensorflow_path_gives_the_same_plan():
    images = np.zeros((4, 32, 32, 3), np.float32)
    layer = MaskMix(mask_patch_size=8, patch_size=4, lam_scope="sample")
    fused = layer.sample_plan(images, seed=tf.constant([3, 4])).mask.numpy()
    kmix.config.set_fused_kernels(False)
    try:
        plain = layer.sample_plan(images, seed=tf.constant([3, 4])).mask.numpy()
    finally:
        kmix.config.set_fused_kernels(True)
    np.testing.assert_array_equal(fused, plain)
