"""MixingModel: a functional Keras model that mixes inside its train step."""

import keras

from kmix._compat import functional_from_config
from kmix._export import kmix_export
from kmix.layers.mixing_point import MixingPoint
from kmix.models.mixing_mixin import MixingMixin


def _with_mixing_points(args, kwargs, names):
    """The `(inputs, outputs)` arguments rebuilt with a MixingPoint after each named layer."""
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise TypeError(
            "`mixing_points` must be a list of layer names. Received: "
            f"mixing_points={names!r}"
        )
    args = list(args)
    inputs = args.pop(0) if args else kwargs.pop("inputs")
    outputs = args.pop(0) if args else kwargs.pop("outputs")
    graph = keras.Model(inputs, outputs)
    known = [layer.name for layer in graph.layers]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"`mixing_points` names layers the model does not have: {unknown}. "
            f"Received: mixing_points={list(names)}; the model's layers are {known}"
        )

    def call(layer, *call_args, **call_kwargs):
        out = layer(*call_args, **call_kwargs)
        if layer.name in names:
            out = MixingPoint(name=f"{layer.name}_mixing_point")(out)
        return out

    rebuilt = keras.models.clone_model(
        graph, input_tensors=graph.input, clone_function=lambda layer: layer, call_function=call
    )
    return [rebuilt.inputs, rebuilt.outputs] + args, kwargs


@kmix_export("kmix.models.MixingModel")
class MixingModel(MixingMixin, keras.Model):
    """A functional `keras.Model` whose `fit` mixes each batch in-graph.

    Built like `keras.Model(inputs, outputs)`, plus a kmix mixer. See
    `kmix.models.MixingMixin` for what the training step does, what the losses
    receive and what the training metrics are computed against.

    Args:
        inputs: the model's input tensor(s) (`keras.Input`); one image input.
        outputs: the output tensor: logits or probabilities `(B, K)`.
        mixer: a kmix mixing layer. With integer labels it needs `num_classes`.
        label_layer: optional attention-guided label layer
            (`kmix.layers.TransMixLabels`, ...). The model's output must then be a
            dict with `"logits"` and the attention the layer needs
            (`"cls_attention"` `(B, N)` or `"attentions"` `(L, B, T, T)`), e.g.
            from `kmix.models.attention_tap`; losses and metrics see the logits.
        teacher: optional frozen Keras model (MIX-KD): it runs on the mixed
            images of each training step and `kmix.losses.MixKDLoss` distils
            from its logits; see `MixingMixin.set_teacher`.
        save_teacher: bool. Save the teacher with the model (default) or only
            reference it.
        mixing_points: optional list of layer names: a `kmix.layers.MixingPoint`
            is inserted after each of these layers (the graph is rebuilt around
            the same layers and weights), for a `kmix.layers.ManifoldMixup`
            mixer. `MixingPoint` layers placed in the graph by hand work alike.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    import numpy as np
    import keras
    import kmix

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    model = kmix.models.MixingModel(inputs, outputs, mixer=kmix.layers.CutMix(num_classes=10))
    model.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy(), jit_compile=True)
    history = model.fit(np.random.rand(16, 32, 32, 3), np.arange(16) % 10, verbose=0)
    print(sorted(history.history))  # ['loss']
    ```
    """

    def __init__(self, *args, **kwargs):
        # `(inputs, outputs, mixer=None, **kwargs)`; written with *args/**kwargs so
        # that Keras serialises the model as a functional graph.
        names = kwargs.pop("mixing_points", None)
        if names is not None:
            args, kwargs = _with_mixing_points(args, kwargs, names)
        super().__init__(*args, **kwargs)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        mixer = config.pop("mixer", None)
        label_layer = config.pop("label_layer", None)
        teacher = config.pop("teacher", None)
        save_teacher = config.pop("save_teacher", True)
        model = functional_from_config(cls, config, custom_objects=custom_objects)
        if mixer is not None:
            model.mixer = keras.saving.deserialize_keras_object(
                mixer, custom_objects=custom_objects
            )
            model.mix_seed_generator = keras.random.SeedGenerator(model.mixer.seed)
        if label_layer is not None:
            model.set_label_layer(
                keras.saving.deserialize_keras_object(label_layer, custom_objects=custom_objects)
            )
        if teacher is not None:
            teacher = keras.saving.deserialize_keras_object(teacher, custom_objects=custom_objects)
        model.set_teacher(teacher, save=save_teacher)
        return model
