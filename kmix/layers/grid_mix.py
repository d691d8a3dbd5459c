"""GridMix."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.grid_holes import grid_hole_mask
from kmix.ops.sampling import sample_int
from kmix.ops.sampling import sample_uniform
from kmix.ops.seeds import split_seed
from kmix.ops.validation import check_image_grid
from kmix.ops.validation import is_integer_scalar
from kmix.ops.validation import is_real_scalar


def _range(value, name, integer=False, minimum=0.0):
    """A number or a `(lo, hi)` pair, returned as a pair of Python numbers."""
    kind = "int" if integer else "float"
    check = is_integer_scalar if integer else is_real_scalar
    pair = value if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(check(v) for v in pair):
        raise TypeError(
            f"`{name}` must be a {kind} or a pair (lo, hi) of {kind}s. Received: {name}={value!r}"
        )
    cast = int if integer else float
    lo, hi = cast(pair[0]), cast(pair[1])
    above = lo >= minimum if integer else lo > minimum
    if not (above and lo <= hi):
        raise ValueError(
            f"`{name}` must be {'>=' if integer else '>'} {minimum} with lo <= hi. "
            f"Received: {name}={value!r}"
        )
    return (lo, hi)


@kmix_export("kmix.layers.GridMix")
class GridMix(BaseMixLayer):
    """Fills a grid of holes, inside a cut, with the partner; labels by the measured share.

    GridMix (Baek et al., Pattern Recognition 2021) places a cut of
    `cut_area_ratio` of the image with aspect `cut_aspect_ratio`, tiles it
    with `n_holes` patches across (patch height `hole_aspect_ratio` times its
    width) and pastes the partner in the top-left hole of every patch, of side
    `sqrt(1 - lam)` of the patch, `lam ~ Beta(alpha, alpha)`. Each range
    argument is drawn uniformly per batch (or per row with
    `lam_scope="sample"`). The masks equal OpenMixup's `gridmix` given its
    draws; the label weight is, as for every kmix mixer, the measured share of
    own pixels (which is also OpenMixup's).

    Differences from OpenMixup (deliberate): the axes are the right ones for
    non-square images (OpenMixup swaps them); a cut larger than the image is
    clipped to it (OpenMixup's negative slice indices wrap around); `n_holes`
    is clipped to half the cut width (OpenMixup asserts); the partner is a
    random derangement by default (`partner="shuffle"` is OpenMixup's
    `torch.randperm`).

    Args:
        alpha: float > 0. Beta(alpha, alpha) of `lam` (the hole size).
            Defaults to `1.0`.
        n_holes: int or `(lo, hi)` ints: patches across the cut. Defaults to
            `(2, 6)` (kmix's choice for CIFAR-size images: OpenMixup's function
            default, 20, does not fit a 32-pixel cut).
        hole_aspect_ratio: float or `(lo, hi)`. Defaults to `1.0`.
        cut_area_ratio: float or `(lo, hi)` in (0, 1]. Defaults to `(0.5, 1.0)`.
        cut_aspect_ratio: float or `(lo, hi)`. Defaults to `(0.5, 2.0)`.
        num_classes, label_smoothing, lam_scope, partner, seed, data_format:
            as every kmix mixer.
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    import numpy as np
    import kmix

    layer = kmix.layers.GridMix(num_classes=10, seed=0)
    images, labels = layer(np.random.rand(8, 32, 32, 3), np.arange(8))
    print(images.shape, labels.shape)  # (8, 32, 32, 3) (8, 10)
    ```

    References:
        - [Baek et al., 2021](https://www.sciencedirect.com/science/article/pii/S0031320320303976)
        - [openmixup `gridmix.py`](https://github.com/Westlake-AI/openmixup)
    """

    def __init__(self, alpha=1.0, n_holes=(2, 6), hole_aspect_ratio=1.0,
                 cut_area_ratio=(0.5, 1.0), cut_aspect_ratio=(0.5, 2.0), **kwargs):
        n_holes = _range(n_holes, "n_holes", integer=True, minimum=1)
        hole_aspect_ratio = _range(hole_aspect_ratio, "hole_aspect_ratio")
        cut_area_ratio = _range(cut_area_ratio, "cut_area_ratio")
        if cut_area_ratio[1] > 1.0:
            raise ValueError(
                f"`cut_area_ratio` must be in (0, 1]. Received: cut_area_ratio={cut_area_ratio}"
            )
        cut_aspect_ratio = _range(cut_aspect_ratio, "cut_aspect_ratio")
        super().__init__(alpha=alpha, **kwargs)
        self.n_holes = n_holes
        self.hole_aspect_ratio = hole_aspect_ratio
        self.cut_area_ratio = cut_area_ratio
        self.cut_aspect_ratio = cut_aspect_ratio

    def check_image_size(self, height, width):
        check_image_grid(height, width, "GridMix")

    def sample_mask(self, batch_size, height, width, seed):
        seeds = split_seed(seed, 7)
        count = self._scope_size(batch_size)
        shape = tf.reshape(count, [1])

        def uniform(bounds, s):
            return self._broadcast_scope(sample_uniform(shape, s, bounds[0], bounds[1]), batch_size)

        lam = self.sample_lam(batch_size, seeds[0])
        lo, hi = self.n_holes
        holes = self._broadcast_scope(lo + sample_int(shape, seeds[1], hi - lo + 1), batch_size)
        return grid_hole_mask(
            lam, holes, uniform(self.hole_aspect_ratio, seeds[2]),
            uniform(self.cut_area_ratio, seeds[3]), uniform(self.cut_aspect_ratio, seeds[4]),
            uniform((0.0, 1.0), seeds[5]), uniform((0.0, 1.0), seeds[6]), height, width,
        )

    def get_config(self):
        config = super().get_config()
        config.update({
            "n_holes": self.n_holes, "hole_aspect_ratio": self.hole_aspect_ratio,
            "cut_area_ratio": self.cut_area_ratio, "cut_aspect_ratio": self.cut_aspect_ratio,
        })
        return config
