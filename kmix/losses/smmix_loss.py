"""SMMixLoss: SMMix's classification, fine-grained and consistency terms."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.losses._checks import check_non_negative
from kmix.losses.mixing_loss import MixingLoss
from kmix.losses.mixing_loss import soft_crossentropy


def smmix_loss_terms(
    logits,
    mixed_targets,
    target_logits,
    own_targets,
    source_logits,
    partner_targets,
    consistency_logits,
):
    """The three per-row terms of SMMix's loss (ChenMnZ/SMMix `engine.py`).

    - `"classification"`: `SoftCE(logits, mixed_targets)`;
    - `"fine"`: `SoftCE(target_logits, own_targets) + SoftCE(source_logits,
      partner_targets)` (the token head on the region-pooled tokens of the own
      region and of the pasted region), not yet halved;
    - `"consistency"`: `KL(softmax(consistency_logits) || softmax(logits))`,
      with `consistency_logits = lam * z_own + (1 - lam) * z_partner` the mix
      of the CLEAN logits (gradient stopped).

    The batch means of `classification + 0.5 * fine + consistency` are the
    official `loss_cls + loss_fine + loss_con` (KL with `batchmean`).

    Args:
        logits: `(B, K)` logits of the mixed images.
        mixed_targets: `(B, K)` area-mixed (smoothed) targets.
        target_logits, source_logits: `(B, K)` token-head logits of the own and
            pasted regions.
        own_targets, partner_targets: `(B, K)` smoothed one-hots of the row and
            of its partner.
        consistency_logits: `(B, K)` mixed clean logits.

    Returns:
        A dict of three float32 tensors `(B,)`.

    Example:

    ```python
    import numpy as np
    from kmix.losses.smmix_loss import smmix_loss_terms

    z = np.zeros((1, 2), "float32")
    y = np.array([[1.0, 0.0]], "float32")
    terms = smmix_loss_terms(z, y, z, y, z, y, z)
    print({k: round(float(v[0]), 4) for k, v in terms.items()})  # {'classification': 0.6931, 'fine': 1.3863, 'consistency': 0.0}
    ```
    """
    log_p = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    reference = tf.stop_gradient(tf.cast(consistency_logits, tf.float32))
    q = tf.nn.softmax(reference, axis=-1)
    log_q = tf.nn.log_softmax(reference, axis=-1)
    return {
        "classification": soft_crossentropy(mixed_targets, logits),
        "fine": soft_crossentropy(own_targets, target_logits)
        + soft_crossentropy(partner_targets, source_logits),
        "consistency": tf.reduce_sum(q * (log_q - log_p), axis=-1),
    }


@kmix_export("kmix.losses.SMMixLoss")
class SMMixLoss(MixingLoss):
    """SMMix's loss: mixed-label CE, fine-grained token-head CE and a consistency KL.

    Per row of an SMMix batch, with the official weights (all 1, fine term
    halved):
    `SoftCE(z, y~) + fine_weight * [SoftCE(z_tgt, y_a) + SoftCE(z_src, y_b)]
    + consistency_weight * KL(softmax(z~) || softmax(z))`, where `y~` is the
    area-mixed target, `z_tgt`/`z_src` are the model's `token_head` on the
    final patch tokens averaged over the own and the pasted region, and
    `z~ = lam * z_a + (1 - lam) * z_b` mixes the logits of the CLEAN images from
    SMMix's motivating forward pass. Rows mixed by MixUp (SMMix's
    `switch_prob` branch) get the first term only, as the official code.

    It reads everything from the step record that `kmix.layers.SMMix` leaves
    in its train step, so compile a `kmix.models.ViT(..., token_head=True,
    mixer=kmix.layers.SMMix(...))` with it. In evaluation (or without an SMMix
    step) it is the soft cross-entropy of the (mixed) labels.

    Args:
        fine_weight: float >= 0. Defaults to `0.5` (official).
        consistency_weight: float >= 0. Defaults to `1.0` (official).
        label_smoothing: float in [0, 1). Usually set on the mixer instead.
        reduction, name, dtype: as `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    import kmix

    vit = kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16,
                          depth=1, num_heads=2, token_head=True, seed=0,
                          mixer=kmix.layers.SMMix(patch_size=4, num_classes=3,
                                                  seed=0))
    vit.compile(optimizer="adam", loss=kmix.losses.SMMixLoss())
    images = np.random.rand(8, 16, 16, 3).astype("float32")
    history = vit.fit(images, np.arange(8) % 3, batch_size=4, verbose=0)
    print(len(history.history["loss"]))  # 1
    ```

    References:
        - [Chen et al., 2023](https://arxiv.org/abs/2212.12977) (SMMix, ICCV 2023)
        - [ChenMnZ/SMMix `engine.py`](https://github.com/ChenMnZ/SMMix)
    """

    expects_logits = True

    def __init__(
        self,
        fine_weight=0.5,
        consistency_weight=1.0,
        label_smoothing=0.0,
        reduction="sum_over_batch_size",
        name="smmix_loss",
        dtype=None,
    ):
        fine_weight = check_non_negative(fine_weight, "fine_weight")
        consistency_weight = check_non_negative(consistency_weight, "consistency_weight")
        super().__init__(
            label_smoothing=label_smoothing, reduction=reduction, name=name, dtype=dtype
        )
        self.fine_weight = float(fine_weight)
        self.consistency_weight = float(consistency_weight)

    def call(self, y_true, y_pred):
        num_classes = y_pred.shape[-1]
        record = self.step_record()
        if record is None or not record.training or record.target_logits is None:
            targets, _ = self.mixed_targets(y_true, num_classes)
            return soft_crossentropy(targets, y_pred)
        y, y_partner, lam, record = self.own_and_partner_targets(y_true, num_classes)
        lam_col = lam[:, None]
        clean = tf.cast(record.clean_logits, tf.float32)
        consistency_logits = lam_col * clean + (1.0 - lam_col) * tf.gather(
            clean, record.plan.index
        )
        terms = smmix_loss_terms(
            y_pred,
            lam_col * y + (1.0 - lam_col) * y_partner,
            record.target_logits,
            y,
            record.source_logits,
            y_partner,
            consistency_logits,
        )
        rows = tf.cast(record.smmix_rows, tf.float32)
        return terms["classification"] + rows * (
            self.fine_weight * terms["fine"] + self.consistency_weight * terms["consistency"]
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {"fine_weight": self.fine_weight, "consistency_weight": self.consistency_weight}
        )
        return config


__all__ = ["SMMixLoss", "smmix_loss_terms"]
