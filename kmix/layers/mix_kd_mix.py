"""MixKDMix: MIX-KD's data scheme, full mixup (FMU) or partial mixup (PMU)."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.mix_up import MixUp
from kmix.ops.seeds import split_seed
from kmix.ops.validation import check_float


@kmix_export("kmix.layers.MixKDMix")
class MixKDMix(MixUp):
    """MIX-KD's mixup for distillation: a ratio per row, some rows left unmixed.

    The official data scheme (Choi et al., WACV 2023) mixes
    `a_i * x[rp1_i] + (1 - a_i) * x[rp2_i]` with two independent random
    permutations and `a_i ~ Beta(alpha, alpha)` per row (FMU). Reordering a
    batch does not change what is learnt, so kmix keeps row `i` as the own
    image and pairs it with a uniformly random permutation (`partner="shuffle"`,
    a row may draw itself): the same law of pairs and ratios.

    Partial mixup (PMU, the official default) then leaves some rows unmixed
    (`a_i = 1`). The official code sets `a = 1` at `int(B * partial)` indices
    drawn **with replacement** (`torch.randint`), so at `partial=0.9` only
    about `1 - exp(-0.9)`, 59%, of the rows stay unmixed, not the 90% the
    option's help text suggests. kmix reproduces that by default
    (`exact_fraction=False`), because the paper's results were obtained with
    it; `exact_fraction=True` leaves exactly `int(B * partial)` distinct rows
    unmixed.

    Give it as the `mixer` of a `kmix.models.MixingModel(..., teacher=...)`
    with `kmix.losses.MixKDLoss`; it also works in `tf.data` as any mixer.

    Args:
        alpha: float > 0, the Beta concentration of `a_i`. Defaults to `1.0`
            (official `beta_a`).
        partial: float in [0, 1] or `None`. PMU's fraction (see above);
            `None` or `0` is FMU (every row mixed). Defaults to `0.9`
            (official `partmixup`).
        exact_fraction: bool. Leave exactly `int(B * partial)` rows unmixed
            instead of the official draw with replacement. Defaults to `False`.
        num_classes: int or `None`. Needed when labels are class ids.
        label_smoothing: float in [0, 1). Defaults to `0.0`.
        partner: defaults to `"shuffle"` (a uniform permutation, official).
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    import numpy as np
    import kmix

    mixer = kmix.layers.MixKDMix(num_classes=10, partial=0.5, exact_fraction=True, seed=0)
    plan = mixer.sample_plan(np.random.rand(8, 16, 16, 3).astype("float32"))
    print(int((plan.lam.numpy() == 1.0).sum()) >= 4)  # True
    ```

    References:
        - [Choi et al., 2023](https://arxiv.org/abs/2211.13766) (MIX-KD, WACV 2023)
        - [hchoi71/MIX-KD](https://github.com/hchoi71/MIX-KD)
    """

    def __init__(self, alpha=1.0, partial=0.9, exact_fraction=False, partner="shuffle",
                 lam_scope="sample", **kwargs):
        partial = 0.0 if partial is None else check_float(partial, "partial", 0, 1)
        if not isinstance(exact_fraction, bool):
            raise TypeError(
                f"`exact_fraction` must be a bool. Received: exact_fraction={exact_fraction!r}"
            )
        super().__init__(alpha=alpha, partner=partner, lam_scope=lam_scope, **kwargs)
        self.partial = float(partial)
        self.exact_fraction = exact_fraction

    def sample_mask(self, batch_size, height, width, seed):
        seed_lam, seed_rows = split_seed(seed, 2)
        lam = self.sample_lam(batch_size, seed_lam)
        if self.partial > 0:
            lam = tf.where(self.unmixed_rows(batch_size, seed_rows), 1.0, lam)
        return tf.reshape(lam, [-1, 1, 1, 1])

    def unmixed_rows(self, batch_size, seed):
        """bool `(B,)`: the rows PMU leaves unmixed (see the class docstring)."""
        batch_size = tf.convert_to_tensor(batch_size, tf.int32)
        count = tf.cast(tf.floor(tf.cast(batch_size, tf.float32) * self.partial), tf.int32)
        rows = tf.range(batch_size)
        if self.exact_fraction:
            order = tf.argsort(tf.random.stateless_uniform(tf.reshape(batch_size, [1]), seed))
            rank = tf.scatter_nd(order[:, None], rows, tf.reshape(batch_size, [1]))
            return rank < count
        # The official draw: `count` indices with replacement.
        drawn = tf.random.stateless_uniform(
            tf.reshape(batch_size, [1]), seed, minval=0, maxval=batch_size, dtype=tf.int32
        )
        valid = rows < count
        hits = tf.equal(drawn[None, :], rows[:, None]) & valid[None, :]
        return tf.reduce_any(hits, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"partial": self.partial, "exact_fraction": self.exact_fraction})
        return config
