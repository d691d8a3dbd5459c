"""SmoothMix."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.sampling import sample_int
from kmix.ops.sampling import sample_uniform
from kmix.ops.seeds import split_seed
from kmix.ops.smooth_masks import gaussian_blob_mask
from kmix.ops.validation import check_image_grid


@kmix_export("kmix.layers.SmoothMix")
class SmoothMix(BaseMixLayer):
    """Blends a Gaussian blob of the partner into each image; labels by the blob's weight.

    SmoothMix (Lee et al., CVPRW 2020), as OpenMixup's `smoothmix`: the
    partner's weight is `exp(-d^2 / (2 sigma^2))` around a centre shifted from
    the image centre by `(trunc(k_y - H/2), trunc(k_x - W/2))`,
    `k ~ U{0, ..., side - 1}`, with `sigma = (u / 4 + 0.25) * H`,
    `u ~ U[0, 1)`: a smooth edge, no hard box. The masks equal OpenMixup's
    given its draws. The label weight is the measured share of own pixels,
    `mean(1 - blob)`, as the paper defines it.

    Differences from OpenMixup (deliberate): OpenMixup returns
    `lam = mean(blob)`, the PARTNER's share, as the weight of the own label
    (an upstream swap: the own image keeps `1 - blob`); kmix's labels follow
    the pixels (tests check the masks and the swap). OpenMixup builds the blob
    for square images of even side only; kmix takes any `H x W` (centre at
    `(W - 1) / 2 + offset` on the width axis, `sigma` relative to `H`). The
    partner is a random derangement by default (`partner="shuffle"` is
    OpenMixup's `torch.randperm`). The paper's square-window variant is not
    implemented.

    Args:
        alpha: unused (OpenMixup draws a Beta ratio and discards it); `None`.
        num_classes, label_smoothing, lam_scope, partner, seed, data_format:
            as every kmix mixer (`lam_scope="batch"`: one blob per batch, as
            OpenMixup).
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    import numpy as np
    import kmix

    layer = kmix.layers.SmoothMix(num_classes=10, seed=0)
    images, labels = layer(np.random.rand(8, 32, 32, 3), np.arange(8))
    print(images.shape, labels.shape)  # (8, 32, 32, 3) (8, 10)
    ```

    References:
        - [Lee et al., 2020](https://openaccess.thecvf.com/content_CVPRW_2020/html/w45/Lee_SmoothMix_A_Simple_Yet_Effective_Data_Augmentation_to_Train_Robust_CVPRW_2020_paper.html)
        - [openmixup `smoothmix.py`](https://github.com/Westlake-AI/openmixup)
    """

    binary_mask = False
    _alpha_required = False

    def __init__(self, alpha=None, **kwargs):
        super().__init__(alpha=alpha, **kwargs)

    def check_image_size(self, height, width):
        check_image_grid(height, width, "SmoothMix")

    def sample_mask(self, batch_size, height, width, seed):
        seed_y, seed_x, seed_sigma = split_seed(seed, 3)
        count = self._scope_size(batch_size)
        shape = tf.reshape(count, [1])

        def offset(side, s):
            k = tf.cast(sample_int(shape, s, side), tf.float32)
            shift = k - side / 2.0
            return self._broadcast_scope(tf.sign(shift) * tf.floor(tf.abs(shift)), batch_size)

        sigma = (sample_uniform(shape, seed_sigma) / 4.0 + 0.25) * float(height)
        return gaussian_blob_mask(
            offset(height, seed_y), offset(width, seed_x),
            self._broadcast_scope(sigma, batch_size), height, width,
        )
