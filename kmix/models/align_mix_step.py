"""AlignMixStep: MixUp of the images, or the aligned mix of the last stage's feature maps."""

import tensorflow as tf

from kmix import step_record
from kmix.layers.align_mix import AlignMix
from kmix.models.manifold_mixup_step import mixing_points_of
from kmix.models.step_strategy import StepStrategy


class AlignMixStep(StepStrategy):
    """The train step of a model mixed by `kmix.layers.AlignMix`.

    Draws the batch's plan (a MixUp plan whose `choice` is the batch's
    branch, `AlignMix.sample_branch`: the images, or the maps aligned one way
    or the other), records it, mixes the images only in the first case, and
    runs the forward pass in which the model's one `MixingPoint`
    (after its last stage) returns the aligned mix of its feature maps in the
    second (the record's `hidden_mix`). The losses read the plan as for any
    mixer: the labels are `lam * y + (1 - lam) * take(y, index)` either way.
    """

    @classmethod
    def applies_to(cls, mixer):
        return isinstance(mixer, AlignMix)

    def check(self):
        clean = self.clean_logit_losses()
        if clean:
            raise ValueError(
                "AlignMix mixes feature maps, so the model has no clean and mixed "
                "input batches to compare: it cannot train with a loss that needs "
                f"clean logits. Received: loss={', '.join(clean)}"
            )
        points = mixing_points_of(self.model)
        if len(points) != 1:
            found = f"{len(points)}: {[p.name for p in points]}" if points else "none"
            raise ValueError(
                "AlignMix aligns the feature maps of the model's last stage: the "
                "model needs exactly one kmix.layers.MixingPoint, after that stage "
                "(or MixingModel(..., mixing_points=[the stage's layer name])). "
                f"Received: model '{self.model.name}' with {found}"
            )
        try:
            shape = points[0].input.shape  # known for a point of a functional graph
        except (AttributeError, ValueError):
            shape = None
        if shape is not None and len(shape) != 4:
            raise ValueError(self._rank_message(points[0], shape))

    def _rank_message(self, point, shape):
        layout = "(B, C, H, W)" if self.mixer.data_format == "channels_first" else "(B, H, W, C)"
        return (
            f"AlignMix aligns rank-4 feature maps {layout} at the model's "
            f"MixingPoint '{point.name}' (after the last convolutional stage). "
            f"Received: activations of shape {tuple(shape)}"
        )

    def mix(self, images, labels, seed):
        mixer = self.mixer
        point = mixing_points_of(self.model)[0]
        plan = mixer.sample_plan(images, seed=seed, labels=labels)
        # The branch (plan.choice, one per batch): 0 mixes the images, 1 and 2
        # the maps at the point (mix_images leaves the images as they are).
        inputs = mixer.mix_images(images, plan)

        def hidden_mix(features):
            if features.shape.rank != 4:
                raise ValueError(self._rank_message(point, features.shape))
            return mixer.mix_features(features, plan)

        step_record.set_record(
            step_record.StepRecord(
                plan, mixer, mixer.num_classes, mixer.label_smoothing, True,
                plans=[plan], mixing_point=tf.minimum(plan.choice[0], 1),
                mixing_points=[point], hidden_mix=hidden_mix,
            )
        )
        return inputs, labels

    def forward(self, mixed_images):
        return self.model(mixed_images, training=True)
