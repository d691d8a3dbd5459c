"""GuidedMixupStep: GuidedMixup's gradient saliency ('ap') from the model being trained."""

import tensorflow as tf

from kmix import step_record
from kmix.layers.guided_mixup import GuidedMixup
from kmix.mix_plan import identity_plan
from kmix.models.step_strategy import StepStrategy


class GuidedMixupStep(StepStrategy):
    """The train step of a model mixed by `kmix.layers.GuidedMixup(saliency="gradient")`.

    The official 'guided-ap' (`3neutronstar/GuidedMixup`, `GuidedMixupLearner._train`
    of FGVC and `train` of the CIFAR / Tiny-ImageNet `main.py`), step by step:

    1. a forward pass of the clean batch through the model in training mode
       (as the official, whose model is in `train()` mode: batch normalization
       uses the batch statistics and updates its moving statistics, dropout
       drops), and the gradient of the model's training loss (the loss given
       to `compile`, on the clean labels: one-hot, with the mixer's
       `label_smoothing`; a kmix loss reads an identity plan) w.r.t. the
       input, in a nested `tf.GradientTape`;
    2. the maps `sqrt(mean_c (dL/dx)^2)` (`GuidedMixup.saliency_from_gradients`);
    3. the layer's own pairing and masks, `mixer.sample_plan(images,
       seed=seed, labels=labels, saliency=maps)` (blur, sum to 1, greedy
       pairing, saliency-ratio masks, `lam` from the mask) and
       `mixer.mix_images`;
    4. the training forward pass on the mixed images; the losses read the
       plan as for any mixer.

    The clean pass gives no parameter update, as the official with its
    default `clean_lam=0` (it calls `optimizer.zero_grad()` after taking the
    input gradient). The official `clean_lam > 0` (the Tiny-ImageNet 'ap'
    command uses 1.0), which adds the clean loss to the update, is not
    reproduced. The official `mix_prob` is the mixer's `probability`; unlike
    the official, which skips the gradient pass on the batches it does not
    mix, the pass runs every step (static graph), so batch normalization sees
    the clean batch on those steps too (its weights' update does not change).
    On such a batch the official FGVC code also skips `zero_grad()` before
    the update (`if 'ap' not in train_mode`), so the previous step's
    gradients are applied again: an upstream bug that kmix does not copy.
    The FGVC `_forward_all` also runs the model twice per call (the first
    output discarded), which moves batch normalization's moving statistics
    twice; kmix runs it once, as the CIFAR `main.py` (the maps are the same).
    """

    @classmethod
    def applies_to(cls, mixer):
        return isinstance(mixer, GuidedMixup) and mixer.saliency == "gradient"

    def check(self):
        if not self.model_losses():
            raise ValueError(
                "GuidedMixup(saliency='gradient') takes its maps from the gradient "
                "of the training loss w.r.t. the images: compile the model with a "
                "loss. Received: loss=None"
            )
        clean = self.clean_logit_losses()
        if clean:
            raise ValueError(
                "GuidedMixup(saliency='gradient') trains on the mixed batch only; "
                "it cannot train with a loss that compares clean and mixed logits. "
                f"Received: loss={', '.join(clean)}"
            )

    def saliency_maps(self, images, labels):
        """The 'ap' maps of a clean batch: float32 `(B, H, W)`, gradient stopped.

        Args:
            images: the clean images `(B, H, W, C)` (channels first per the
                mixer's `data_format`).
            labels: the labels as given to `fit`.
        """
        mixer, model = self.mixer, self.model
        inputs = tf.cast(images, mixer.compute_dtype)
        batch_size = tf.shape(inputs)[0]
        # The training loss of the clean batch: an identity plan in the record.
        step_record.set_record(
            step_record.StepRecord(
                identity_plan(batch_size), mixer, mixer.num_classes, mixer.label_smoothing, True,
            )
        )
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            predictions = model(inputs, training=True)
            loss = model.compute_loss(x=inputs, y=labels, y_pred=predictions, training=True)
            if model.optimizer is not None:
                # As the official `scaler.scale(loss).backward()`: no float16 underflow.
                loss = model.optimizer.scale_loss(loss)
        return mixer.saliency_from_gradients(tape.gradient(loss, inputs))

    def mix(self, images, labels, seed):
        mixer = self.mixer
        maps = self.saliency_maps(images, labels)
        plan = mixer.sample_plan(images, seed=seed, labels=labels, saliency=maps)
        step_record.set_record(
            step_record.StepRecord(
                plan, mixer, mixer.num_classes, mixer.label_smoothing, True, plans=[plan],
            )
        )
        return mixer.mix_images(images, plan), labels

    def forward(self, mixed_images):
        return self.model(mixed_images, training=True)
