"""ManifoldMixupStep: MixUp at one point per step, the input or a MixingPoint layer."""

import tensorflow as tf

from kmix import step_record
from kmix.layers.manifold_mixup import ManifoldMixup
from kmix.layers.mixing_point import MixingPoint
from kmix.models.step_strategy import StepStrategy
from kmix.ops.seeds import split_seed


def mixing_points_of(model):
    """The `MixingPoint` layers of `model`, depth first in the order Keras tracks them."""
    found = []

    def walk(layer):
        for sub in getattr(layer, "layers", None) or ():
            if isinstance(sub, MixingPoint):
                if not any(sub is f for f in found):
                    found.append(sub)
            else:
                walk(sub)

    walk(model)
    return found


class ManifoldMixupStep(StepStrategy):
    """The train step of a model mixed by `kmix.layers.ManifoldMixup`.

    Draws the batch's plan (a MixUp plan) and one point, uniformly among the
    input and the model's `MixingPoint` layers (`ManifoldMixup.sample_point`),
    records both, mixes the images only when the point is the input, and runs
    the forward pass in which the chosen `MixingPoint` blends its activations.
    The losses read the plan as for any mixer.
    """

    @classmethod
    def applies_to(cls, mixer):
        return isinstance(mixer, ManifoldMixup)

    def check(self):
        clean = self.clean_logit_losses()
        if clean:
            raise ValueError(
                "ManifoldMixup mixes hidden states, so the model has no clean and "
                "mixed input batches to compare: it cannot train with a loss that "
                f"needs clean logits. Received: loss={', '.join(clean)}"
            )
        if not mixing_points_of(self.model) and not self.mixer.include_input:
            raise ValueError(
                "ManifoldMixup(include_input=False) needs kmix.layers.MixingPoint "
                f"layers in the model. Received: model '{self.model.name}' without any"
            )

    def mix(self, images, labels, seed):
        mixer = self.mixer
        points = mixing_points_of(self.model)
        seed_plan, seed_point = split_seed(seed, 2)
        plan = mixer.sample_plan(images, seed=seed_plan, labels=labels)
        point = mixer.sample_point(len(points), seed_point)
        mixed = mixer.mix_images(images, plan)
        inputs = tf.where(tf.equal(point, 0), mixed, tf.cast(images, mixed.dtype))
        step_record.set_record(
            step_record.StepRecord(
                plan, mixer, mixer.num_classes, mixer.label_smoothing, True,
                plans=[plan], mixing_point=point, mixing_points=points,
            )
        )
        return inputs, labels

    def forward(self, mixed_images):
        return self.model(mixed_images, training=True)
