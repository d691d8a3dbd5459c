"""TeacherTargetsStep: TokenMix with a teacher, whose targets follow the pasted content."""

import tensorflow as tf

from kmix import step_record
from kmix.layers.token_mix import TokenMix
from kmix.models.step_strategy import StepStrategy
from kmix.mix_plan import identity_plan


class TeacherTargetsStep(StepStrategy):
    """The train step of a model mixed by a `kmix.layers.TokenMix` with a `teacher`.

    The teacher's score maps of the clean batch give content-following soft
    targets for the mixed batch (`TokenMix.teacher_targets`); the losses
    receive them as final labels (an identity plan without smoothing is
    recorded, so kmix losses take them as they are).
    """

    targets_are_final = True

    @classmethod
    def applies_to(cls, mixer):
        return isinstance(mixer, TokenMix) and mixer.teacher is not None

    def mix(self, images, labels, seed):
        mixer = self.mixer
        maps = mixer.teacher_maps(images, labels)
        plan = mixer.sample_plan(images, seed=seed)
        targets = mixer.teacher_targets(maps, labels, plan)
        batch_size = tf.shape(images)[0]
        step_record.set_record(
            step_record.StepRecord(
                identity_plan(batch_size), mixer, mixer.label_width(labels), 0.0, True,
                plans=[plan], teacher_targets=targets,
            )
        )
        return mixer.mix_images(images, plan), targets

    def forward(self, mixed_images):
        return self.model(mixed_images, training=True)
