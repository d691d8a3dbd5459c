"""MixingPoint: a place in a model where Manifold Mixup (or AlignMix) may mix the hidden states."""

import keras
import tensorflow as tf

from kmix import step_record
from kmix._compat import require_tensorflow_backend
from kmix._export import kmix_export
from kmix.ops.mixing import blend_rows


@kmix_export("kmix.layers.MixingPoint")
class MixingPoint(keras.layers.Layer):
    """Marks where Manifold Mixup (or AlignMix) may mix a model's hidden states.

    Put it between two layers of a functional model (or use
    `kmix.models.ViT(mixing_points=...)`, or
    `kmix.models.MixingModel(..., mixing_points=[layer names])`). It is the
    identity, except in a training step of a `kmix.models.MixingModel` whose
    mixer is `kmix.layers.ManifoldMixup`: that step draws one mixing point per
    batch, uniformly among the input and the model's `MixingPoint` layers, and
    the chosen one returns `lam * h + (1 - lam) * take(h, index)` with the
    step's plan, so that the labels (mixed by the same plan) follow. The choice
    is a tensor: every point computes the blend and selects, and the step
    compiles once under XLA.

    Activations of any rank `(B, ...)` are mixed; `lam` is cast to their dtype.

    With `kmix.layers.AlignMix` as the mixer, the model has one `MixingPoint`
    after its last stage; when the step draws the aligned branch, it returns
    the step's aligned mix of its rank-4 feature maps instead of the row blend
    (the step record's `hidden_mix`), and only then computes it.

    Args:
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    import keras
    import numpy as np
    import kmix

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = kmix.layers.MixingPoint()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4)(x)
    model = kmix.models.MixingModel(
        inputs, outputs, mixer=kmix.layers.ManifoldMixup(num_classes=4, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    history = model.fit(np.random.rand(16, 8, 8, 3), np.arange(16) % 4, verbose=0)
    print(sorted(history.history))  # ['loss']
    ```

    References:
        - [Verma et al., 2019](https://arxiv.org/abs/1806.05236) (Manifold Mixup, ICML 2019)
        - [vikasverma1077/manifold_mixup](https://github.com/vikasverma1077/manifold_mixup)
    """

    def __init__(self, **kwargs):
        require_tensorflow_backend(type(self).__name__)
        super().__init__(**kwargs)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=None):
        record = step_record.get_record()
        if (
            not training
            or record is None
            or not record.training
            or record.mixing_point is None
            or not any(point is self for point in record.mixing_points or ())
        ):
            return inputs
        number = 1 + [id(point) for point in record.mixing_points].index(id(self))
        chosen = tf.equal(record.mixing_point, number)
        if record.hidden_mix is not None:
            # The step's own mix (AlignMix's aligned maps): computed only when
            # this point is chosen (a Sinkhorn loop is not free).
            hidden_mix = record.hidden_mix
            return tf.cond(chosen, lambda: hidden_mix(inputs), lambda: tf.identity(inputs))
        plan = record.plan
        blended = blend_rows(inputs, tf.gather(inputs, plan.index), plan.lam)
        return tf.where(chosen, blended, inputs)

    def compute_output_shape(self, input_shape):
        return input_shape
