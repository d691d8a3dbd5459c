"""StepStrategy: how a mixing train step mixes a batch when the mixer needs the model."""

import keras


class StepStrategy:
    """A mixing train step's own first half, for mixers that need the model.

    Most mixers draw their plan from the images alone, and
    `kmix.models.MixingMixin` runs Keras's own train step on the mixed batch.
    A mixer that needs the model before or while mixing (SMMix's motivating
    forward pass, TokenMix's teacher targets) gets a step strategy instead: the
    strategy mixes the batch (`mix`) and runs the forward pass that the loss
    reads (`forward`, inside the gradient tape); the mixin does everything
    else, the same for every strategy (label and strategy checks, the step
    seed, the loss, loss scaling and tracking across replicas, gradients,
    the optimizer update and the metrics).

    A strategy is built for one trace of the step: `StepStrategy(model, mixer)`.
    Subclasses set `applies_to(mixer)` and implement `mix` and `forward`.

    Attributes:
        targets_are_final: whether the targets `mix` returns are the loss's
            final soft labels (given to `keras.Model.compute_loss` as they are)
            rather than labels that kmix losses mix by the recorded plan.
    """

    targets_are_final = False

    def __init__(self, model, mixer):
        self.model = model
        self.mixer = mixer
        # The step's seed before the replica fold (the same on every replica),
        # set by the train step before `mix`; None outside one.
        self.shared_seed = None

    @classmethod
    def applies_to(cls, mixer):
        """Whether this strategy runs the steps of `mixer`."""
        raise NotImplementedError

    def check(self):
        """Raises, before any work, if the model or its loss cannot run this step."""

    def model_losses(self):
        """The model's compiled losses, flattened (empty when it has none)."""
        return [] if self.model.loss is None else keras.tree.flatten(self.model.loss)

    def clean_logit_losses(self):
        """The class names of the model's losses that compare clean and mixed logits."""
        return [type(l).__name__ for l in self.model_losses() if getattr(l, "needs_clean_logits", False)]

    def plan_reading_losses(self):
        """The class names of the model's losses that need the plan beyond soft labels.

        Those that refuse to run without a plan (the partner and lambda:
        DecoupledMixupLoss, LUMixLoss) or compare clean and mixed logits
        (RankMixupLoss): a step whose loss receives final targets and an
        identity plan (`targets_are_final`) cannot train them.
        """
        return [
            type(l).__name__ for l in self.model_losses()
            if getattr(l, "requires_plan", False) or getattr(l, "needs_clean_logits", False)
        ]

    def mix(self, images, labels, seed):
        """Mixes a batch (outside the gradient tape).

        Args:
            images: rank-4 images of the batch.
            labels: the labels as given to `fit` (checked).
            seed: int32 `(2,)` seed of this step and replica.

        Returns:
            `(mixed_images, targets)`: the model's input and the labels the loss
            receives.
        """
        raise NotImplementedError

    def forward(self, mixed_images):
        """The training forward pass on the mixed images (inside the tape).

        Returns the predictions the loss and the metrics read; records in the
        step record whatever else the loss reads.
        """
        raise NotImplementedError
