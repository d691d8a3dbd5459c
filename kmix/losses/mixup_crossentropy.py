"""MixupCrossentropy."""

from kmix._export import kmix_export
from kmix.losses.mixing_loss import MixingLoss
from kmix.losses.mixing_loss import soft_crossentropy


@kmix_export("kmix.losses.MixupCrossentropy")
class MixupCrossentropy(MixingLoss):
    """Soft-target cross-entropy that mixes the labels with the step's plan.

    `loss_i = -sum_k t_ik log p_ik` with `t = lam * y + (1 - lam) * take(y, index)`
    (timm's `SoftTargetCrossEntropy` on `mixup_target`). It accepts class ids or
    one-hot labels. Inside a model that holds a kmix mixing layer it reads that
    layer's plan, so the labels follow the images; with labels already mixed in
    `tf.data` (soft `(B, K)`) it is a plain soft-target cross-entropy.

    Args:
        from_logits: bool. Whether `y_pred` are logits. Defaults to `True`
            (a warning is given when `y_pred` then comes out of a softmax).
        label_smoothing: float in [0, 1). Defaults to `0.0`.
        reduction: as `keras.losses.Loss`. Defaults to `"sum_over_batch_size"`.
        name: optional name.
        dtype: optional dtype of the loss computation.

    Example:

    ```python
    import numpy as np
    import keras
    import kmix

    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        kmix.layers.CutMix(seed=0),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer="adam", loss=kmix.losses.MixupCrossentropy())
    images = np.random.rand(16, 32, 32, 3).astype("float32")
    history = model.fit(images, np.arange(16) % 10, epochs=1, verbose=0)
    print(np.isfinite(history.history["loss"][0]))  # True
    ```
    """

    def __init__(self, from_logits=True, label_smoothing=0.0, reduction="sum_over_batch_size",
                 name="mixup_crossentropy", dtype=None):
        super().__init__(
            label_smoothing=label_smoothing, reduction=reduction, name=name, dtype=dtype
        )
        self.from_logits = from_logits

    @property
    def expects_logits(self):
        return bool(self.from_logits)

    def call(self, y_true, y_pred):
        targets, _ = self.mixed_targets(y_true, y_pred.shape[-1])
        return soft_crossentropy(targets, y_pred, self.from_logits)

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits})
        return config
