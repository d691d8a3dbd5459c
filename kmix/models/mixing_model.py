"""MixingModel: a functional Keras model that mixes inside its train step."""

import keras

from kmix._compat import functional_from_config
from kmix._export import kmix_export
from kmix.models.mixing_mixin import MixingMixin


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
        super().__init__(*args, **kwargs)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        mixer = config.pop("mixer", None)
        label_layer = config.pop("label_layer", None)
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
        return model
