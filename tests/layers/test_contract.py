"""The contract every kmix mixing layer keeps (one table, every layer)."""

import inspect
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests.graph_checks import nchw_ops
from tests.layers.registry import FACTORIES
from tests.layers.registry import IDS
from tests.layers.registry import K

B, H, W, C = 6, 16, 16, 3

pytestmark = pytest.mark.parametrize("make", FACTORIES, ids=IDS)


def _batch(seed=0, batch=B, dtype=np.float32):
    rng = np.random.default_rng(seed)
    images = rng.random((batch, H, W, C)).astype(np.float32)
    if dtype == np.uint8:
        images = (images * 255).astype(np.uint8)
    return images.astype(dtype), (np.arange(batch) % K).astype(np.int64)


def _init_params(layer):
    params = set()
    for cls in type(layer).__mro__:
        if cls is keras.layers.Layer:
            break
        if "__init__" in vars(cls):
            params |= {
                p.name
                for p in inspect.signature(cls.__init__).parameters.values()
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self"
            }
    return params


def test_get_config_covers_init_and_round_trips(make):
    layer = make(num_classes=K, seed=3)
    config = layer.get_config()
    missing = _init_params(layer) - set(config)
    if isinstance(layer, kmix.layers.RandomMixChoice):
        missing -= {"lam_scope"}  # refused by RandomMixChoice
    assert not missing, f"get_config misses {missing}"
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    images, labels = _batch()
    a = layer(images, labels)
    b = clone(images, labels)
    np.testing.assert_allclose(a[0].numpy(), b[0].numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a[1].numpy(), b[1].numpy(), rtol=1e-6, atol=1e-6)


def test_training_false_is_identity(make):
    layer = make(num_classes=K, seed=0)
    images, labels = _batch()
    data = {"images": images, "labels": labels}
    out = layer(data, training=False)
    np.testing.assert_array_equal(np.asarray(out["images"]), images)
    np.testing.assert_array_equal(np.asarray(out["labels"]), labels)
    x, y = layer(images, labels, training=False)
    np.testing.assert_array_equal(np.asarray(x), images)
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)


def test_same_seed_same_output_and_fresh_draws_per_call(make):
    images, labels = _batch()
    a = make(num_classes=K, seed=11)(images, labels)
    layer = make(num_classes=K, seed=11)
    b = layer(images, labels)
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    later = [layer(images, labels)[0].numpy() for _ in range(4)]
    assert any(not np.array_equal(x, b[0].numpy()) for x in later)


def test_mixes_and_labels_are_consistent(make):
    layer = make(num_classes=K, seed=2)
    images, labels = _batch(batch=12)
    plans = [layer.sample_plan(images) for _ in range(6)]
    for plan in plans:
        np.testing.assert_allclose(
            plan.lam.numpy(), plan.mask.numpy().mean(axis=(1, 2, 3)), rtol=1e-6, atol=1e-7
        )
        assert plan.mask.numpy().min() >= 0 and plan.mask.numpy().max() <= 1
    # Over a few draws something is actually mixed.
    assert any(plan.lam.numpy().min() < 0.999 for plan in plans)
    _, y = layer(images, labels)
    np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-6)
    assert y.dtype == tf.float32 and y.shape == (12, K)


def test_batch_of_one_is_left_as_is(make):
    layer = make(num_classes=K, seed=0)
    images, labels = _batch(batch=1)
    x, y = layer(images, labels)
    np.testing.assert_allclose(x.numpy(), images, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), np.eye(K, dtype=np.float32)[labels])


def test_single_image_rank_3_is_left_as_is(make):
    layer = make(num_classes=K, seed=0)
    images, labels = _batch(batch=1)
    x, y = layer(images[0], labels[0])
    assert x.shape == (H, W, C) and y.shape == (K,)
    np.testing.assert_allclose(x.numpy(), images[0], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, "bfloat16"])
def test_input_dtypes(make, dtype):
    layer = make(num_classes=K, seed=0)
    images, labels = _batch()
    images = tf.cast(images * (255 if dtype == np.uint8 else 1), dtype)
    x, y = layer(images, labels)
    assert x.dtype == tf.float32 and y.dtype == tf.float32
    assert np.all(np.isfinite(x.numpy()))
    hi = 255.0 if dtype == np.uint8 else 1.0
    assert x.numpy().min() >= 0 and x.numpy().max() <= hi + 1e-2


def test_mixed_precision_policy_keeps_labels_float32(make):
    keras.config.set_dtype_policy("mixed_float16")
    layer = make(num_classes=K, seed=0)
    images, labels = _batch()
    x, y = layer(images, labels)
    assert x.dtype == tf.float16 and y.dtype == tf.float32


def test_channels_first_matches_channels_last(make):
    images, labels = _batch()
    x_last, y_last = make(num_classes=K, seed=5)(images, labels)
    layer = make(num_classes=K, seed=5, data_format="channels_first")
    x_first, y_first = layer(images.transpose(0, 3, 1, 2), labels)
    # No convolution or pooling in NCHW layout: many CPUs have no such kernel.
    assert nchw_ops(lambda x, y: layer(x, y), tf.constant(images.transpose(0, 3, 1, 2)), tf.constant(labels)) == []
    np.testing.assert_allclose(x_first.numpy().transpose(0, 2, 3, 1), x_last.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y_first.numpy(), y_last.numpy(), rtol=1e-6)


def test_tf_data_with_unknown_batch_size(make):
    # Dict elements with an extra key, batched with a short last batch (the
    # batch size is unknown when the map is traced); tuple elements are mapped
    # by the parallel-map test below.
    layer = make(num_classes=K, seed=0)
    images, labels = _batch(batch=11)
    ds = (
        tf.data.Dataset.from_tensor_slices({"images": images, "labels": labels, "id": np.arange(11)})
        .batch(4, drop_remainder=False)
        .map(layer, num_parallel_calls=tf.data.AUTOTUNE)
    )
    assert ds.element_spec["images"].shape.as_list() == [None, H, W, C]
    sizes = []
    for d in ds:
        assert set(d) == {"images", "labels", "id"}
        x, y = d["images"], d["labels"]
        sizes.append(x.shape[0])
        assert y.shape == (x.shape[0], K)
        np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-6)
    assert sizes == [4, 4, 3]


def test_parallel_tf_data_map_never_repeats_a_plan(make):
    # Concurrent calls of a parallel map must each draw their own seed: the
    # generator advances exactly once per batch, and (every batch holding the
    # same images) the parallel map yields exactly the sequential map's
    # outputs, in some order: one plan per seed, no seed drawn twice.
    n = 48
    images, labels = _batch(batch=4)
    ds = tf.data.Dataset.from_tensors((images, labels)).repeat(n)
    layer = make(num_classes=K, seed=7)
    start = layer.generator.state.numpy()
    # Both maps call one traced function (traced once, by the first map).
    mix = tf.function(lambda x, y: layer(x, y))

    def outputs(num_parallel_calls):
        layer.generator.state.assign(start)
        mapped = ds.map(mix, num_parallel_calls=num_parallel_calls)
        rows = sorted(np.round(np.concatenate([x.numpy().ravel(), y.numpy().ravel()]), 5).tobytes()
                      for x, y in mapped)
        return rows, int(layer.generator.state.numpy()[1] - start[1])

    sequential, drawn = outputs(None)
    assert drawn == n
    parallel, drawn = outputs(16)
    assert drawn == n
    assert parallel == sequential
    assert mix.experimental_get_tracing_count() == 1


def test_compiles_under_xla(make):
    layer = make(num_classes=K, seed=0)
    images, labels = _batch()
    fn = tf.function(lambda x, y: layer(x, y), jit_compile=True)
    x, y = fn(images, labels)
    assert x.shape == images.shape
    np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-6)


def test_dict_input_not_modified_extra_keys_pass_through_masks_keep_dtype(make):
    layer = make(num_classes=K, seed=0)
    images, labels = _batch()
    seg = np.random.default_rng(1).integers(0, 3, (B, H, W, 1)).astype(np.int32)
    data = {"images": images, "labels": labels, "segmentation_masks": seg, "meta": tf.range(B)}
    keys_before = {k: id(v) for k, v in data.items()}
    out = layer(data)
    assert {k: id(v) for k, v in data.items()} == keys_before
    assert out is not data and set(out) == set(data)
    assert out["meta"] is data["meta"] or np.array_equal(np.asarray(out["meta"]), np.arange(B))
    assert out["segmentation_masks"].dtype == tf.int32
    assert out["segmentation_masks"].shape == seg.shape
    assert set(np.unique(out["segmentation_masks"].numpy())) <= {0, 1, 2}


def test_in_a_model_that_saves_and_loads(make, tmp_path):
    layer = make(seed=0)
    model = keras.Sequential(
        [
            keras.Input((H, W, C)),
            layer,
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(K),
        ]
    )
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    images, labels = _batch(batch=8)
    model.fit(images, labels, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[0]) is type(layer)
    assert loaded.layers[0].get_config() == layer.get_config()
    # Direct calls (one small batch): no predict function to trace.
    np.testing.assert_allclose(loaded(images, training=False), model(images, training=False), rtol=1e-5, atol=1e-5)
    # The loaded model trains on (eagerly: the traced step of this model was
    # run by the fit above).
    loaded.run_eagerly = True
    weights = [w.numpy() for w in loaded.trainable_weights]
    loaded.fit(images, labels, epochs=1, batch_size=4, verbose=0)
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(weights, loaded.trainable_weights))


def _numpy_scalars(value):
    """Python numbers -> NumPy scalars (float32, exact for the values used), in lists too."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float):
        return np.float32(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_numpy_scalars(v) for v in value)
    return value


def _python_numbers(value):
    """What a NumPy scalar is as a Python number (the reference construction)."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_python_numbers(v) for v in value)
    return value


def _without_names(config):
    """The config with every layer name (the layer's and its members') dropped."""
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, (list, tuple)):
        return [_without_names(v) for v in config]
    return config


def _assert_plain_python(config):
    for key, value in config.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            assert not isinstance(v, np.generic), f"get_config()[{key!r}] holds {type(v).__name__}"
    json.dumps(config)


def test_numpy_scalar_arguments_give_python_numbers_in_config(make):
    # num_classes and seed straight from the factory ...
    layer = make(num_classes=np.int64(K), seed=np.int64(3))
    config = layer.get_config()
    _assert_plain_python(config)
    assert type(config["num_classes"] or K) is int and type(config["seed"]) is int
    reference = make(num_classes=K, seed=3)
    assert _without_names(config) == _without_names(reference.get_config())
    images, labels = _batch()
    a, b = layer(images, labels), reference(images, labels)
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    # ... and every other number of the config (alpha, probabilities, sizes, ...).
    numbers = {k: _numpy_scalars(v) for k, v in reference.get_config().items()}
    assert any(isinstance(v, np.floating) for v in numbers.values())
    from_numpy = type(layer).from_config(numbers)
    from_python = type(layer).from_config({k: _python_numbers(v) for k, v in numbers.items()})
    _assert_plain_python(from_numpy.get_config())
    assert _without_names(from_numpy.get_config()) == _without_names(from_python.get_config())
    a, b = from_numpy(images, labels), from_python(images, labels)
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
