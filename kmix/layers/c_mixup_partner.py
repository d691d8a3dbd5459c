"""CMixupPartner: C-Mixup's label-distance partner sampler, for any blending mixer."""

from kmix._export import kmix_export
from kmix.ops.label_distance import check_kernel
from kmix.ops.label_distance import sample_c_mixup_partners
from kmix.ops.label_distance import standardize_labels
from kmix.ops.validation import check_float


@kmix_export("kmix.layers.CMixupPartner")
class CMixupPartner:
    """Draws each row's partner by the distance of the regression targets (C-Mixup).

    Give it as `partner=` of a blending mixer (`kmix.layers.MixUp`,
    `kmix.layers.ManifoldMixup`) with `label_mode="regression"`: each row's
    partner is drawn from the batch with probability
    `softmax_j(-||y_i - y_j||^2 / (2 h^2))` (gaussian) or uniformly among the
    rows within `h` (tophat), the row itself included, as the official
    sampler (`get_mixup_sample_rate`; its matrices are checked against the
    official ones). A row drawn as its own partner is left unmixed.

    How this relates to the official samplers:

    - The official default computes the matrix once over the whole training
      set and draws every anchor's partner from all N examples. With the
      sampler here the candidates are the rows of the batch (in a `tf.data`
      map, or in the compiled train step of `kmix.models.MixingModel`): close
      partners are only found among the B rows. For the official dataset-level
      draw on data that fits in memory, use `kmix.datasets.c_mixup_pairs` (an
      N x N matrix, precomputed once); for the official `batch_type=1` (the
      anchor batch plus a second random batch, 2B candidates) use
      `kmix.datasets.c_mixup_batches`.

    Args:
        bandwidth: float > 0, the kernel bandwidth `h`, in label units (in
            standard deviations of the batch's targets with `standardize=True`).
            Defaults to `1.0` (the official default; the paper tunes it per
            dataset, e.g. 1.75 for Airfoil).
        kernel: `"gaussian"` (default) or `"tophat"`.
        standardize: bool. Divide the targets by their standard deviation (per
            dimension, over the candidates) before measuring distances.
            Defaults to `False` (the official sampler uses the labels as they are).

    Example:

    ```python
    import numpy as np
    import kmix

    mixer = kmix.layers.MixUp(alpha=2.0, label_mode="regression", any_rank=True,
                              partner=kmix.layers.CMixupPartner(bandwidth=0.5), seed=0)
    features = np.random.rand(8, 5).astype("float32")
    targets = np.linspace(0.0, 3.0, 8).astype("float32")
    mixed_features, mixed_targets = mixer(features, targets)
    print(mixed_features.shape, mixed_targets.shape)  # (8, 5) (8,)
    ```

    References:
        - [Yao et al., 2022](https://arxiv.org/abs/2210.05775) (C-Mixup, NeurIPS 2022)
        - [huaxiuyao/C-Mixup](https://github.com/huaxiuyao/C-Mixup)
    """

    needs_labels = True

    def __init__(self, bandwidth=1.0, kernel="gaussian", standardize=False):
        self.bandwidth = check_float(bandwidth, "bandwidth", 0, min_inclusive=False)
        self.kernel = check_kernel(kernel)
        if not isinstance(standardize, bool):
            raise TypeError(f"`standardize` must be a bool. Received: standardize={standardize!r}")
        self.standardize = standardize

    def sample(self, labels, seed):
        """The partner index `(B,)` of a batch, from its targets `(B,)` or `(B, D)`."""
        if self.standardize:
            labels = standardize_labels(labels)
        return sample_c_mixup_partners(labels, labels, self.bandwidth, seed, self.kernel)

    def get_config(self):
        return {"bandwidth": self.bandwidth, "kernel": self.kernel, "standardize": self.standardize}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (
            f"CMixupPartner(bandwidth={self.bandwidth}, kernel={self.kernel!r}, "
            f"standardize={self.standardize})"
        )
