"""SnapMixStep: the class activation maps of the model itself, then SnapMix's paste and labels."""

import weakref

import keras
import tensorflow as tf

from kmix import step_record
from kmix.layers.snap_mix import SnapMix
from kmix.mix_plan import identity_plan
from kmix.models.step_strategy import StepStrategy
from kmix.ops.class_activation import class_activation_maps
from kmix.ops.mixing import one_hot_labels

# model -> (feature layer name, classifier name, feature layer, classifier, view)
_VIEWS = weakref.WeakKeyDictionary()


def _output_of(layer):
    try:
        return layer.output
    except (AttributeError, ValueError):
        return None


def _input_of(layer):
    try:
        return layer.input
    except (AttributeError, ValueError):
        return None


def _producer(model, tensor):
    """The layer of `model` whose output is `tensor`, or None."""
    for layer in model.layers:
        if tensor is not None and _output_of(layer) is tensor:
            return layer
    return None


def _named_layer(model, name, argument):
    try:
        return model.get_layer(name)
    except ValueError:
        raise ValueError(
            f"SnapMix's `{argument}` names no layer of the model '{model.name}'. "
            f"Received: {argument}={name!r}; the model's layers: "
            f"{[layer.name for layer in model.layers]}"
        ) from None


def find_cam_layers(model, mixer):
    """The feature layer and the Dense classifier whose weights give SnapMix's CAMs.

    Args:
        model: a functional Keras model.
        mixer: the `kmix.layers.SnapMix` (its `feature_layer` and
            `classifier_layer` names, or None to find them).

    Returns:
        `(feature_layer, classifier)`.
    """
    if not getattr(model, "inputs", None) or not hasattr(model, "layers"):
        raise ValueError(
            "SnapMix computes class activation maps from a layer inside the "
            "model: it needs a functional model (kmix.models.MixingModel(inputs, "
            f"outputs, ...)). Received: model of type {type(model).__name__} "
            "without symbolic inputs"
        )
    pooling = None
    if mixer.classifier_layer is not None:
        classifier = _named_layer(model, mixer.classifier_layer, "classifier_layer")
    else:
        classifier = None
        for layer in reversed(model.layers):
            source = _producer(model, _input_of(layer)) if isinstance(layer, keras.layers.Dense) else None
            if isinstance(source, keras.layers.GlobalAveragePooling2D):
                classifier, pooling = layer, source
                break
        if classifier is None:
            raise ValueError(
                "SnapMix found no classifier in the model: a keras.layers.Dense "
                "reading a GlobalAveragePooling2D of a feature map (or name them "
                "with SnapMix(feature_layer=..., classifier_layer=...)). Received: "
                f"model '{model.name}' with layers {[layer.name for layer in model.layers]}"
            )
    if not isinstance(classifier, keras.layers.Dense):
        raise ValueError(
            "SnapMix's classifier must be a keras.layers.Dense reading the pooled "
            f"features. Received: classifier_layer={classifier.name!r} of type "
            f"{type(classifier).__name__}"
        )
    if mixer.feature_layer is not None:
        feature = _named_layer(model, mixer.feature_layer, "feature_layer")
    else:
        if pooling is None:
            pooling = _producer(model, _input_of(classifier))
        feature = _producer(model, _input_of(pooling)) if pooling is not None else None
        if not isinstance(pooling, keras.layers.GlobalAveragePooling2D) or feature is None:
            raise ValueError(
                "SnapMix could not find the feature layer: the classifier "
                f"'{classifier.name}' must read a GlobalAveragePooling2D of a layer "
                "of the model, or name it with SnapMix(feature_layer=...). "
                f"Received: '{classifier.name}' reading "
                f"{type(pooling).__name__ if pooling is not None else 'no layer of the model'}"
            )
    output = _output_of(feature)
    channels = classifier.kernel.shape[0]
    axis = 1 if mixer.data_format == "channels_first" else -1
    if output is None or len(output.shape) != 4 or output.shape[axis] != channels:
        raise ValueError(
            "SnapMix's feature layer must give a rank-4 feature map whose channels "
            f"({mixer.data_format}) feed the classifier '{classifier.name}' "
            f"({channels} inputs). Received: feature_layer '{feature.name}' with output "
            f"shape {None if output is None else tuple(output.shape)}"
        )
    return feature, classifier


class SnapMixStep(StepStrategy):
    """The train step of a model mixed by `kmix.layers.SnapMix`.

    Once per model, a functional view `keras.Model(model.inputs,
    feature_layer.output)` is built; every step runs it on the clean batch in
    inference mode without gradient, computes each image's class activation
    map of its own class from the classifier's kernel and bias
    (`kmix.ops.class_activation.class_activation_maps`), draws the plan,
    pastes, and gives the loss the final targets `lam_a * y_a + lam_b * y_b`.
    With a cross-entropy loss this equals the official weighted loss
    `CE(out, y_a) * lam_a + CE(out, y_b) * lam_b` exactly, since the
    cross-entropy is linear in its target (the official then averages over
    the batch, as Keras's losses do).
    """

    targets_are_final = True

    @classmethod
    def applies_to(cls, mixer):
        return isinstance(mixer, SnapMix)

    def _view(self):
        model, mixer = self.model, self.mixer
        names = (mixer.feature_layer, mixer.classifier_layer)
        cached = _VIEWS.get(model)
        if cached is None or cached[0] != names:
            feature, classifier = find_cam_layers(model, mixer)
            view = keras.Model(model.inputs, feature.output, name=f"{model.name}_snapmix_features")
            cached = (names, classifier, view)
            _VIEWS[model] = cached
        return cached[1], cached[2]

    def check(self):
        needs_plan = self.plan_reading_losses()
        if needs_plan:
            raise ValueError(
                "SnapMix gives the loss final targets `lam_a * y_a + lam_b * y_b` "
                "(its CAM weights are not a plan's lam), so it trains with losses "
                'that read labels only: a Keras cross-entropy ("categorical_'
                'crossentropy") or kmix.losses.MixupCrossentropy. Received: '
                f"loss={', '.join(needs_plan)}"
            )
        classifier, _ = self._view()
        num_classes = self.mixer.num_classes
        if num_classes is not None and classifier.kernel.shape[-1] != num_classes:
            raise ValueError(
                f"SnapMix's classifier '{classifier.name}' has "
                f"{classifier.kernel.shape[-1]} classes, the mixer "
                f"num_classes={num_classes}. Received: both"
            )

    def mix(self, images, labels, seed):
        mixer = self.mixer
        classifier, view = self._view()
        features = tf.stop_gradient(tf.cast(view(images, training=False), tf.float32))
        if mixer.data_format == "channels_first":
            features = tf.transpose(features, [0, 2, 3, 1])
        _, height, width = mixer.image_dims(images)
        soft = one_hot_labels(labels, mixer.num_classes)
        bias = classifier.bias if classifier.use_bias else None
        cams = class_activation_maps(
            features, tf.stop_gradient(classifier.kernel),
            None if bias is None else tf.stop_gradient(bias),
            tf.argmax(soft, axis=-1, output_type=tf.int32), height, width,
        )
        plan = mixer.sample_plan(images, seed=seed, labels=labels)
        targets = mixer.mixed_targets(cams, plan, labels)
        step_record.set_record(
            step_record.StepRecord(
                identity_plan(tf.shape(images)[0]), mixer, targets.shape[-1], 0.0, True,
                plans=[plan],
            )
        )
        return mixer.mix_images(images, plan), targets

    def forward(self, mixed_images):
        return self.model(mixed_images, training=True)
