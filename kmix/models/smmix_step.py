"""SMMixStep: the motivating pass, the window paste and SMMix's three-term loss."""

import tensorflow as tf

from kmix import step_record
from kmix.layers.smmix import SMMix
from kmix.models.step_strategy import StepStrategy
from kmix.ops.tokens import token_mask
from kmix.ops.windows import region_mean


class SMMixStep(StepStrategy):
    """The train step of a model mixed by `kmix.layers.SMMix`.

    A motivating forward pass of the model itself (inference mode, no
    gradient) on the clean batch gives every image's patch attention, the
    mixer draws its windows from it, and the training pass on the mixed batch
    records the token-head logits of the own and pasted regions that
    `kmix.losses.SMMixLoss` reads (with the clean logits of the motivating
    pass), as the official `engine.py`.
    """

    @classmethod
    def applies_to(cls, mixer):
        return isinstance(mixer, SMMix)

    def check(self):
        model = self.model
        if not callable(getattr(model, "forward", None)) or getattr(model, "token_head", None) is None:
            raise ValueError(
                "SMMix needs a model that gives its patch attention and final "
                "tokens (`forward(images, training, attention='patch')`) and has "
                "a `token_head` for the fine-grained labels: use "
                "kmix.models.ViT(..., token_head=True). Received: model of type "
                f"{type(model).__name__} with "
                f"forward={'yes' if callable(getattr(model, 'forward', None)) else 'no'} "
                f"and token_head={getattr(model, 'token_head', None)!r}"
            )
        from kmix.losses.smmix_loss import SMMixLoss

        losses = self.model_losses()
        if not any(isinstance(l, SMMixLoss) for l in losses):
            raise ValueError(
                "A model mixed by SMMix trains with kmix.losses.SMMixLoss (mixed "
                "labels, fine-grained token-head labels and the consistency "
                "term): compile(loss=kmix.losses.SMMixLoss()). Received: "
                f"loss={model.loss!r}"
            )

    def mix(self, images, labels, seed):
        mixer = self.mixer
        clean = self.model.forward(images, training=False, attention="patch")
        self.clean_logits = tf.stop_gradient(tf.cast(clean["logits"], tf.float32))
        self.attention = tf.stop_gradient(tf.cast(clean["patch_attention"], tf.float32))
        self.plan = mixer.sample_plan(images, attention=self.attention, seed=seed)
        return mixer.mix_images(images, self.plan), labels

    def forward(self, mixed_images):
        plan = self.plan
        out = self.model.forward(mixed_images, training=True)
        tokens = out["tokens"]
        smmix_rows = tf.cast(tf.equal(plan.choice, 0), tf.float32)
        own_tokens = token_mask(plan.mask, self.mixer.patch_size)
        target_region = own_tokens * smmix_rows[:, None]
        source_region = (1.0 - own_tokens) * smmix_rows[:, None]
        mixer = self.mixer
        step_record.set_record(
            step_record.StepRecord(
                plan, mixer, mixer.num_classes, mixer.label_smoothing, True,
                plans=[plan],
                clean_logits=self.clean_logits,
                target_logits=self.model.token_head(region_mean(tokens, target_region)),
                source_logits=self.model.token_head(region_mean(tokens, source_region)),
                smmix_rows=smmix_rows,
                shift=plan.shift,
                patch_attention=self.attention,
            )
        )
        return out["logits"]
