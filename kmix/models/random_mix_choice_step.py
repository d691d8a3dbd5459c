"""RandomMixChoiceStep: one member per batch, in-graph members (SnapMix, AlignMix, ...) included."""

import tensorflow as tf

from kmix import step_record
from kmix.layers.align_mix import AlignMix
from kmix.layers.random_mix_choice import RandomMixChoice
from kmix.layers.random_mix_choice import in_graph_member
from kmix.mix_plan import MixPlan
from kmix.mix_plan import identity_plan
from kmix.models.align_mix_step import AlignMixStep
from kmix.models.guided_mixup_step import GuidedMixupStep
from kmix.models.manifold_mixup_step import ManifoldMixupStep
from kmix.models.manifold_mixup_step import mixing_points_of
from kmix.models.snap_mix_step import SnapMixStep
from kmix.models.step_strategy import StepStrategy
from kmix.ops.mixing import blend_rows
from kmix.ops.mixing import mix_soft_labels
from kmix.ops.mixing import one_hot_labels
from kmix.ops.seeds import split_seed

# The steps of the in-graph mixers a RandomMixChoice may hold.
MEMBER_STEPS = (SnapMixStep, AlignMixStep, ManifoldMixupStep, GuidedMixupStep)


def _member_step(model, mixer):
    for step in MEMBER_STEPS:
        if step.applies_to(mixer):
            return step(model, mixer)
    raise TypeError(
        f"RandomMixChoice's member {type(mixer).__name__} mixes inside the train "
        "step and kmix has no per-batch step for it in a container. Received: a "
        f"member of type {type(mixer).__name__}"
    )


class RandomMixChoiceStep(StepStrategy):
    """The train step of a model mixed by a `RandomMixChoice` with in-graph members.

    Per step, one member is drawn (`RandomMixChoice.sample_choice`, from the
    step's seed before the replica fold: every replica draws the same member,
    so the branch's collective operations, such as a synchronized batch
    normalization, match across replicas; each replica still mixes its own
    batch with its own seed), and one branch of a `tf.switch_case` runs:

    - an input member: the container's plan of that member alone
      (`RandomMixChoice.member_plan`) and its mix;
    - an in-graph member: that member's own step strategy (`SnapMixStep`,
      `AlignMixStep`, `ManifoldMixupStep`, `GuidedMixupStep`), exactly as when
      it is the model's only mixer;
    - "not mixed" (`no_mix_probability`): the clean batch.

    Every branch gives the model's input and the rows' final soft targets
    (the plan's `lam * y + (1 - lam) * take(y, index)`, or SnapMix's
    `lam_a * y + lam_b * take(y, index)`), with the container's
    `label_smoothing`; the loss receives those targets (`targets_are_final`)
    and an identity plan whose `choice` holds the member drawn in every row
    (`len(mixers)`: not mixed). A hidden-state member (AlignMix, ManifoldMixup)
    mixes at the model's `MixingPoint` layers in the forward pass, only in the
    batches that draw it.
    """

    targets_are_final = True

    @classmethod
    def applies_to(cls, mixer):
        return isinstance(mixer, RandomMixChoice) and mixer.mixes_in_graph

    def __init__(self, model, mixer):
        super().__init__(model, mixer)
        self.members = [
            _member_step(model, m) if in_graph_member(m) else None for m in mixer.mixers
        ]

    def check(self):
        needs_plan = self.plan_reading_losses()
        if needs_plan:
            raise ValueError(
                "A RandomMixChoice with in-graph members gives the loss each row's "
                "final soft targets (SnapMix's CAM-weighted labels are not a plan's "
                "lam), so it trains with losses that read labels only: a Keras "
                'cross-entropy ("categorical_crossentropy") or '
                "kmix.losses.MixupCrossentropy. Received: loss="
                f"{', '.join(needs_plan)}"
            )
        for member in self.members:
            if member is not None:
                member.check()

    def _branch(self, k, images, soft, smoothed, seed):
        """Branch `k`: `soft` are the one-hot labels, `smoothed` them with the container's smoothing."""
        container, dtype = self.mixer, self.mixer.compute_dtype

        def run():
            member = self.mixer.mixers[k]
            step = self.members[k]
            align = tf.constant(0, tf.int32)
            point = tf.constant(0, tf.int32)
            if step is None:
                plan = container.member_plan(k, images, seed=seed, labels=soft)
                inputs = container.mix_images(images, plan)
                targets = mix_soft_labels(smoothed, plan)
            else:
                inputs, final = step.mix(images, soft, seed)
                record = step_record.get_record()
                plan = record.plans[0]
                # SnapMix's own targets are smoothed with its label_smoothing,
                # the container's (RandomMixChoice sets it on in-graph members).
                targets = final if step.targets_are_final else mix_soft_labels(smoothed, plan)
                if record.mixing_point is not None:
                    point = tf.cast(record.mixing_point, tf.int32)
                if isinstance(member, AlignMix):
                    align = tf.cast(plan.choice[0], tf.int32)
            return (
                tf.cast(inputs, dtype), tf.cast(targets, tf.float32),
                tf.cast(plan.index, tf.int32), tf.cast(plan.lam, tf.float32), point, align,
            )

        return run

    def mix(self, images, labels, seed):
        container = self.mixer
        batch_size = tf.shape(images)[0]
        soft = one_hot_labels(labels, container.num_classes)
        smoothed = one_hot_labels(soft, label_smoothing=container.label_smoothing)
        choice = container.sample_choice(1, self.shared_seed if self.shared_seed is not None else seed)[0]
        seeds = split_seed(seed, len(container.mixers))
        branches = [
            self._branch(k, images, soft, smoothed, seeds[k]) for k in range(len(container.mixers))
        ]

        def clean():
            return (
                tf.cast(images, container.compute_dtype),
                smoothed,
                tf.range(batch_size, dtype=tf.int32), tf.ones([batch_size], tf.float32),
                tf.constant(0, tf.int32), tf.constant(0, tf.int32),
            )

        inputs, targets, index, lam, point, align = tf.switch_case(choice, branches + [clean])
        inputs = tf.ensure_shape(inputs, images.shape)
        targets = tf.ensure_shape(targets, soft.shape)
        hidden = [k for k, m in enumerate(container.mixers) if getattr(m, "mixes_hidden_states", False)]
        points, hidden_mix = None, None
        if hidden:
            points = mixing_points_of(self.model)
            aligned = [k for k in hidden if isinstance(container.mixers[k], AlignMix)]

            def mix_hidden(features):
                def blend():
                    return blend_rows(features, tf.gather(features, index), lam)

                if not aligned:
                    return blend()
                plan = MixPlan(
                    index=index, mask=tf.reshape(lam, [-1, 1, 1, 1]), lam=lam,
                    choice=tf.fill(tf.reshape(batch_size, [1]), align),
                )
                # 0: a ManifoldMixup member's blend; j: the j-th AlignMix member.
                which = tf.add_n([
                    tf.cast(tf.equal(choice, k), tf.int32) * (j + 1) for j, k in enumerate(aligned)
                ])
                return tf.switch_case(which, [blend] + [
                    (lambda m=container.mixers[k]: m.mix_features(features, plan)) for k in aligned
                ])

            hidden_mix = mix_hidden

        # The loss reads final targets: an identity plan, whose `choice` tells
        # which member mixed the batch (len(mixers): none), e.g. for a callback.
        plan = identity_plan(batch_size)._replace(choice=tf.fill(tf.reshape(batch_size, [1]), choice))
        step_record.set_record(
            step_record.StepRecord(
                plan, container, targets.shape[-1], 0.0, True, plans=[plan],
                mixing_point=point if hidden else None, mixing_points=points,
                hidden_mix=hidden_mix,
            )
        )
        return inputs, targets

    def forward(self, mixed_images):
        return self.model(mixed_images, training=True)
