"""ManifoldMixup: MixUp at a point drawn among the input and the model's hidden layers."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.mix_up import MixUp


@kmix_export("kmix.layers.ManifoldMixup")
class ManifoldMixup(MixUp):
    """Mixes hidden states: MixUp at one point per batch, the input or a marked layer.

    Manifold Mixup (Verma et al., 2019) draws, every training step, one mixing
    point uniformly among the input (with `include_input=True`, the official
    `mixup_hidden` mode) and the model's `kmix.layers.MixingPoint` layers, and
    blends the activations at that point with a partner's:
    `lam * h + (1 - lam) * take(h, index)`, `lam ~ Beta(alpha, alpha)` once per
    batch; the labels are mixed with the same plan. Give it as the `mixer` of a
    `kmix.models.MixingModel` whose graph holds `MixingPoint` layers, or of a
    `kmix.models.ViT(mixing_points=...)`. The point is a tensor, not Python
    control flow: the step compiles once under XLA and runs under
    `tf.distribute.MirroredStrategy` (each replica draws its own point).

    The blend and the labels equal the official `mixup_process` given its
    draws (checked on the official code's outputs).

    Differences from the official code (on purpose): the partner is a random
    derangement by default; `partner="shuffle"` is the official pairing law
    (`np.random.permutation`, which may pair a row with itself);
    the official loss is a BCE on the softmax, kmix trains with any kmix loss
    (e.g. `kmix.losses.MixupCrossentropy`).

    It has no meaning on its own in a `tf.data` pipeline (there are no hidden
    states there): calling it in training raises; use `kmix.layers.MixUp`.

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration. Defaults to `2.0`
            (the official commands' `--mixup_alpha 2.0`).
        include_input: bool. Whether the input itself is one of the points
            (the official `mixup_hidden` draws among the input and the hidden
            points). Defaults to `True`.
        num_classes: int or `None`. Needed when labels are class ids.
        label_smoothing: float in [0, 1). Defaults to `0.0`.
        lam_scope: `"batch"` (official) or `"sample"`.
        partner: `"permute"`, `"flip"` or `"roll"`.
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    import numpy as np
    import kmix

    vit = kmix.models.ViT(image_size=16, patch_size=4, num_classes=3, dim=16,
                          depth=2, num_heads=2, mixing_points=[1],
                          mixer=kmix.layers.ManifoldMixup(num_classes=3, seed=0))
    vit.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    history = vit.fit(np.random.rand(8, 16, 16, 3), np.arange(8) % 3, verbose=0)
    print(sorted(history.history))  # ['loss']
    ```

    References:
        - [Verma et al., 2019](https://arxiv.org/abs/1806.05236) (Manifold Mixup, ICML 2019)
        - [vikasverma1077/manifold_mixup](https://github.com/vikasverma1077/manifold_mixup)
    """

    # Only the train step of a model can mix hidden states.
    mixes_hidden_states = True
    choosable_in_graph = True

    def __init__(self, alpha=2.0, include_input=True, **kwargs):
        if not isinstance(include_input, bool):
            raise TypeError(
                f"`include_input` must be a bool. Received: include_input={include_input!r}"
            )
        super().__init__(alpha=alpha, **kwargs)
        self.include_input = include_input

    def sample_point(self, num_points, seed):
        """The mixing point of a step: an int32 scalar, uniform over the points.

        Args:
            num_points: int, the number of `MixingPoint` layers of the model.
            seed: int32 `(2,)` seed.

        Returns:
            `0` (the input) to `num_points` with `include_input=True`, else
            `1` to `num_points`; `0` when the model has no point.
        """
        low = 0 if self.include_input or num_points == 0 else 1
        return tf.random.stateless_uniform(
            [], seed, minval=low, maxval=num_points + 1, dtype=tf.int32
        )

    def call(self, data, labels=None, sample_weight=None, training=True):
        if training:
            raise ValueError(
                "ManifoldMixup mixes hidden states inside a model's train step: "
                "give it as the `mixer` of kmix.models.MixingModel (with "
                "kmix.layers.MixingPoint layers in the graph, or "
                "mixing_points=[layer names]) or of kmix.models.ViT(mixing_points="
                "[...]). To mix the images in a tf.data pipeline use "
                "kmix.layers.MixUp. Received: a direct call in training"
            )
        return super().call(data, labels, sample_weight, training=training)

    def get_config(self):
        config = super().get_config()
        config["include_input"] = self.include_input
        return config
