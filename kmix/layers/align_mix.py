"""AlignMix: MixUp of the input, or of the last feature maps after optimal-transport alignment."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.seeds import split_seed
from kmix.ops.sinkhorn import align_mix
from kmix.ops.validation import check_int
from kmix.ops.validation import check_positive
from kmix.ops.validation import check_probability


@kmix_export("kmix.layers.AlignMix")
class AlignMix(BaseMixLayer):
    """Mixes the input, or the last feature maps aligned by optimal transport (AlignMixup).

    AlignMixup (Venkataramanan et al., CVPR 2022) mixes, in each training
    step, either the images (MixUp) or the feature maps of the last stage of
    the network: with `F1` a row's map and `F2` its partner's, both as `HW`
    points of dimension `C`, an entropic optimal transport plan `P` between
    their spatial positions (log-domain Sinkhorn: squared-L2 cost, uniform
    marginals, `eps`, at most `max_iter` iterations, scaled by `HW`) aligns one
    map to the other, and then they are blended: `lam * F1 + (1 - lam) * P F2`
    (the partner aligned to the row) or `lam * P^T F1 + (1 - lam) * F2` (the
    row aligned to the partner), each with probability 1/2. The labels are
    `lam * y + (1 - lam) * take(y, index)` in every case, `lam ~ Beta(alpha,
    alpha)` once per batch: as the paper and the official code, the label
    weight is the interpolation weight (no mask is measured on feature maps).
    The plan is a MixUp plan (`sample_mask` is the constant `lam`) whose
    `choice` holds the batch's branch (`sample_branch`: the images, or the
    maps aligned one way or the other), so that it says how to re-apply it:
    `mix_images` gives the model's input and `mix_features` the mixed maps.

    Give it as the `mixer` of a `kmix.models.MixingModel` whose last stage is
    marked by one `kmix.layers.MixingPoint` (or `mixing_points=[layer name]`),
    placed where the official code mixes: after the last residual stage,
    before the pooling and the classifier. The activations there must be
    rank-4 maps `(B, H, W, C)` (`(B, C, H, W)` with
    `data_format="channels_first"`). The branch is a tensor, not Python
    control flow: the step compiles once under XLA, and the Sinkhorn loop
    always runs `max_iter` iterations, frozen once the official stopping test
    holds (same plan as the official early stop). Under
    `tf.distribute.MirroredStrategy` each replica draws its own plan (and
    branch), and the stopping test is taken over the replica's batch, as the
    official `DataParallel` forward does.

    Equal to the official `mixup_aligned` and `SinkhornDistance` given their
    draws (permutation, `lam`, direction; checked on the official code's
    outputs). Differences from the official code (on purpose): the partner is
    a random derangement by default (`partner="shuffle"` is the official
    `np.random.permutation`, which may pair a row with itself); the input
    mixup branch uses the same plan (partner and `lam`) as the aligned branch
    (the official draws a second permutation there, same law). OpenMixup's
    `alignmix` mode always aligns: `input_mixup_probability=0.0`.

    It has no meaning on its own in a `tf.data` pipeline (there are no feature
    maps there): calling it in training raises; use `kmix.layers.MixUp`.

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration. Defaults to `2.0`
            (the official commands' and `main.py`'s `--alpha 2.0`).
        input_mixup_probability: float in [0, 1]. Probability, per batch, of
            mixing the images instead of the aligned feature maps. Defaults
            to `0.5` (the official ResNet forward's `random.randint(0, 1)`).
        eps: float > 0. Sinkhorn's entropic regularisation. Defaults to `0.1`.
        max_iter: int >= 1. Sinkhorn's iterations (the official most).
            Defaults to `100`.
        num_classes: int or `None`. Needed when labels are class ids.
        label_smoothing: float in [0, 1). Defaults to `0.0`.
        lam_scope: `"batch"` (official) or `"sample"`.
        partner: `"permute"`, `"flip"`, `"roll"` or `"shuffle"` (official).
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`: the layout of
            the images and of the feature maps.
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    import keras
    import numpy as np
    import kmix

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stage")(inputs)
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))
    model = kmix.models.MixingModel(
        inputs, outputs, mixing_points=["stage"],
        mixer=kmix.layers.AlignMix(num_classes=4, seed=0))
    model.compile(optimizer="sgd", loss=kmix.losses.MixupCrossentropy())
    history = model.fit(np.random.rand(8, 8, 8, 3), np.arange(8) % 4, verbose=0)
    print(sorted(history.history))  # ['loss']
    ```

    References:
        - [Venkataramanan et al., 2022](https://arxiv.org/abs/2103.15375) (AlignMixup, CVPR 2022)
        - [shashankvkt/AlignMixup_CVPR22](https://github.com/shashankvkt/AlignMixup_CVPR22)
    """

    binary_mask = False
    # Only the train step of a model can mix feature maps.
    mixes_hidden_states = True
    choosable_in_graph = True

    def __init__(self, alpha=2.0, input_mixup_probability=0.5, eps=0.1, max_iter=100, **kwargs):
        input_mixup_probability = check_probability(
            input_mixup_probability, "input_mixup_probability"
        )
        eps = check_positive(eps, "eps")
        max_iter = check_int(max_iter, "max_iter", minimum=1)
        super().__init__(alpha=alpha, **kwargs)
        self.input_mixup_probability = input_mixup_probability
        self.eps = eps
        self.max_iter = max_iter

    def sample_mask(self, batch_size, height, width, seed):
        seed_lam, seed_branch = split_seed(seed, 2)
        mask = tf.reshape(self.sample_lam(batch_size, seed_lam), [-1, 1, 1, 1])
        # A batch of one is left as it is (lam = 1): the images' branch.
        branch = tf.where(tf.convert_to_tensor(batch_size) < 2, 0, self.sample_branch(seed_branch))
        return mask, {"choice": tf.fill(tf.reshape(batch_size, [1]), branch)}

    def sample_branch(self, seed):
        """The branch of a batch: an int32 scalar drawn once per batch.

        `0`: mix the images (probability `input_mixup_probability`); `1`: mix
        the feature maps, the partner aligned to the row (the official
        `align_mix == 0`); `2`: the row aligned to the partner (the official
        `align_mix == 1`); `1` and `2` share the rest equally, as the official
        `random.randint(0, 1)` draws. `sample_plan` puts it in every row of
        the plan's `choice`.

        Args:
            seed: int32 `(2,)` seed.
        """
        draws = tf.random.stateless_uniform([2], seed)
        aligned = tf.cast(draws[0] >= self.input_mixup_probability, tf.int32)
        direction = tf.cast(draws[1] >= 0.5, tf.int32)
        return aligned * (1 + direction)

    def mix_images(self, images, plan):
        """The model's input for a plan: MixUp where `plan.choice` is 0, else the images.

        Args:
            images: tensor `(B, H, W, C)` (channels-first per `data_format`).
            plan: a `kmix.MixPlan` of this layer (a plan without `choice`
                blends every row).

        Returns:
            The images in the layer's compute dtype, blended in the rows whose
            branch mixes the images.
        """
        images = self.check_inputs(images)
        mixed = super().mix_images(images, plan)
        if plan.choice is None:
            return mixed
        keep = tf.reshape(tf.not_equal(plan.choice, 0), [-1, 1, 1, 1])
        return tf.where(keep, tf.cast(images, mixed.dtype), mixed)

    def mix_features(self, features, plan):
        """The aligned mix of a batch of feature maps with the step's plan.

        Args:
            features: float `(B, H, W, C)` (or `(B, C, H, W)` per
                `data_format`): the maps at the model's `MixingPoint`.
            plan: the step's `kmix.MixPlan` (partner `index`, `lam`, and the
                branch in `choice`: 1 aligns the partner to the row, 2 the row
                to the partner; its first row is read).

        Returns:
            The mixed maps (`kmix.ops.align_mix`), shape and dtype of `features`.
        """
        if plan.choice is None:
            raise ValueError(
                "AlignMix.mix_features reads the alignment direction from the "
                "plan's `choice` (1: the partner aligned to the row, 2: the row "
                "to the partner). Received: a plan with choice=None"
            )
        features = tf.convert_to_tensor(features)
        direction = tf.maximum(tf.cast(plan.choice[0], tf.int32) - 1, 0)
        return align_mix(
            features, tf.gather(features, plan.index), plan.lam, direction,
            eps=self.eps, max_iter=self.max_iter, data_format=self.data_format,
        )

    def call(self, data, labels=None, sample_weight=None, training=True):
        if training:
            raise ValueError(
                "AlignMix mixes feature maps inside a model's train step: give it "
                "as the `mixer` of kmix.models.MixingModel with one "
                "kmix.layers.MixingPoint after the last stage (or mixing_points="
                "[layer name]). To mix the images in a tf.data pipeline use "
                "kmix.layers.MixUp. Received: a direct call in training"
            )
        return super().call(data, labels, sample_weight, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_mixup_probability": self.input_mixup_probability,
            "eps": self.eps,
            "max_iter": self.max_iter,
        })
        return config
