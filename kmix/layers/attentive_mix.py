"""AttentiveMix (Attentive CutMix)."""

from collections.abc import Mapping

import keras
import tensorflow as tf

from kmix._compat import check_teacher_backend
from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.attentive_cells import top_k_cell_mask
from kmix.ops.seeds import split_seed
from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_image_grid
from kmix.ops.validation import check_int

FEATURES = "features"


@kmix_export("kmix.layers.AttentiveMix")
class AttentiveMix(BaseMixLayer):
    """Pastes the partner's most attended cells, chosen by a pretrained network.

    Attentive CutMix (Walawalkar et al., ICASSP 2020): a pretrained network
    (`teacher`) maps each image to a feature map `(B, s, s, C)`; the `top_k`
    cells of the partner's map (mean over the channels) are pasted, at the
    same place, into the image. The label weight is the measured own share,
    `1 - top_k / s^2` (for cells that tile the image).

    The mixed pairs equal OpenMixup's `attentivemix` given its permutation;
    OpenMixup states it from the other image of each pair (row `i` keeps its
    own top-k cells and takes the rest from its partner): the same images and
    label weights, in another row order (checked on OpenMixup's outputs).
    The official repository's code does not run as published (it calls
    undefined functions and reads one channel of the map), so OpenMixup's
    reading of it, the channel mean, is followed.

    Args:
        teacher: a Keras model mapping images (channels last, float32) to
            feature maps `(B, s_h, s_w, C)`, e.g. a pretrained backbone cut
            before its pooling (the paper: ResNet-50, 7x7 at 224 pixels). Not
            trained and not saved with the layer (`get_config` keeps its
            architecture). `None`: the input dict must hold `"features"`.
        top_k: int, the number of cells pasted. Defaults to `6` (the paper).
        num_classes, label_smoothing, lam_scope, partner, seed, data_format:
            as every kmix mixer (`alpha` is unused: `None`).
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    import keras
    import numpy as np
    import kmix

    teacher = keras.Sequential([keras.layers.AveragePooling2D(8)])  # 4x4 cells
    layer = kmix.layers.AttentiveMix(teacher=teacher, top_k=4, num_classes=10, seed=0)
    images, labels = layer(np.random.rand(8, 32, 32, 3), np.arange(8))
    print(labels.numpy().max(axis=1).round(2).tolist()[:2])  # [0.75, 0.75]
    ```

    References:
        - [Walawalkar et al., 2020](https://arxiv.org/abs/2003.13048)
        - [openmixup `attentivemix.py`](https://github.com/Westlake-AI/openmixup)
    """

    _alpha_required = False
    needs_images = True

    def __init__(self, teacher=None, top_k=6, alpha=None, **kwargs):
        if isinstance(teacher, Mapping):
            teacher = keras.saving.deserialize_keras_object(teacher)
        if teacher is not None and not isinstance(teacher, keras.layers.Layer):
            raise TypeError(
                "`teacher` must be a Keras model mapping images to feature maps "
                f"(B, s, s, C). Received: teacher of type {type(teacher).__name__}"
            )
        check_teacher_backend("AttentiveMix", teacher, "'features': the teacher's maps (B, s, s, C)")
        top_k = check_int(top_k, "top_k", minimum=1)
        super().__init__(alpha=alpha, **kwargs)
        self.top_k = top_k
        # Not tracked: the teacher is neither trained nor saved with the layer.
        object.__setattr__(self, "teacher", teacher)

    def check_image_size(self, height, width):
        check_image_grid(height, width, "AttentiveMix")

    def sample_mask(self, batch_size, height, width, seed):
        raise ValueError(
            "AttentiveMix chooses its cells from a network's feature maps of the "
            "images: call it on the images (with a `teacher`, or a dict holding "
            "'features'), or use `sample_plan(images)`. Received: no images"
        )

    def features_of(self, images):
        """The teacher's feature maps of a batch, float32 `(B, s_h, s_w, C)`."""
        if self.teacher is None:
            raise ValueError(
                "AttentiveMix needs feature maps: give it a `teacher` model, or "
                "call it on a dict holding 'features' (B, s, s, C). Received: "
                "teacher=None and no features"
            )
        if self.data_format == "channels_first":
            images = tf.transpose(images, [0, 2, 3, 1])
        return tf.stop_gradient(tf.cast(self.teacher(tf.cast(images, tf.float32), training=False), tf.float32))

    def _check_features(self, features):
        features = tf.convert_to_tensor(features)
        cells = None
        if features.shape.rank == 4 and None not in features.shape[1:3]:
            cells = features.shape[1] * features.shape[2]
        if cells is None or self.top_k > cells:
            raise ValueError(
                "AttentiveMix's feature maps must be (B, s_h, s_w, C) with at least "
                f"top_k={self.top_k} cells. Received: features.shape={_shape_str(features)}"
            )
        return features

    def _plan_from_features(self, features, batch_size, height, width, seed=None, labels=None):
        seed = to_seed_tensor(self.generator if seed is None else seed)
        seed_index, _ = split_seed(seed, 2)
        index = self._partner_index(batch_size, seed_index, labels)
        cells = top_k_cell_mask(features, self.top_k, height, width, index=index)
        return self._finalize_plan(index, 1.0 - cells, batch_size)

    def sample_plan(self, images, seed=None, labels=None, features=None):
        """Draws the plan of a batch: the partner's top-k cells by the teacher's features.

        Args:
            images: tensor `(B, H, W, C)` (channels-first per `data_format`).
            seed: optional int or `(2,)` seed tensor.
            labels: the labels, for a partner sampler that reads them.
            features: optional precomputed feature maps (else the teacher's).
        """
        images = self.check_inputs(images)
        batch_size, height, width = self.image_dims(images)
        self.check_image_size(height, width)
        features = self._check_features(self.features_of(images) if features is None else features)
        return self._plan_from_features(features, batch_size, height, width, seed, labels)

    def _extra_inputs(self, inputs, height, width):
        features = inputs.data.get(FEATURES) if inputs.form == "dict" else None
        if features is None:
            return self._check_features(self.features_of(inputs.images))
        features = tf.convert_to_tensor(features)
        if inputs.single and features.shape.rank == 3:
            features = features[None]
        return self._check_features(features)

    def _sample_for_call(self, batch_size, height, width, extra, labels=None):
        return self._plan_from_features(extra, batch_size, height, width, labels=labels)

    def get_config(self):
        config = super().get_config()
        config.update({
            "teacher": (keras.saving.serialize_keras_object(self.teacher)
                        if self.teacher is not None else None),
            "top_k": self.top_k,
        })
        return config
