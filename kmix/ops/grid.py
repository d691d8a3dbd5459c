"""MaskMix cells: a random subset of grid cells per row, and its pixel and token masks.

A cell grid is a float32 tensor `(B, Gh, Gw)`, 1 where the row keeps its own
image and 0 where the partner shows; each cell covers `mask_patch_size` pixels
per side, the last row and column of cells cropped at the image border.
"""

import math

import tensorflow as tf

from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import check_int


def _check_cells(cells, mask_patch_size, height, width):
    cells = tf.cast(tf.convert_to_tensor(cells), tf.float32)
    if cells.shape.rank != 3:
        raise ValueError(
            "`cells` must have shape (B, Gh, Gw). "
            f"Received: cells.shape={tuple(cells.shape)}"
        )
    mask_patch_size = check_int(mask_patch_size, "mask_patch_size", minimum=1)
    height = check_int(height, "height", minimum=1)
    width = check_int(width, "width", minimum=1)
    gh, gw = grid_shape(height, width, mask_patch_size)
    if cells.shape[1] not in (None, gh) or cells.shape[2] not in (None, gw):
        raise ValueError(
            f"`cells` must have shape (B, {gh}, {gw}): ceil(height / mask_patch_size) "
            f"by ceil(width / mask_patch_size). Received: cells.shape="
            f"{tuple(cells.shape)} with height={height}, width={width} and "
            f"mask_patch_size={mask_patch_size}"
        )
    return cells


def grid_shape(height, width, mask_patch_size):
    """The MaskMix grid `(Gh, Gw) = (ceil(H / P), ceil(W / P))` for cell side `P`.

    Example:

    ```python
    import kmix.ops.grid as grid

    print(grid.grid_shape(224, 200, 32))  # (7, 7)
    ```
    """
    return math.ceil(height / mask_patch_size), math.ceil(width / mask_patch_size)


def cell_counts(ratio, num_cells):
    """How many cells each row keeps: `ceil(num_cells * ratio)` clipped to `[1, num_cells]`.

    MixPro's rule: the count is rounded up, so a row always keeps at least one
    cell and the realised share is never below the drawn ratio.

    Args:
        ratio: float tensor `(B,)` in `[0, 1]`.
        num_cells: int, `Gh * Gw`.

    Returns:
        int32 tensor `(B,)`.
    """
    ratio = tf.cast(ratio, tf.float32)
    count = tf.cast(tf.math.ceil(ratio * float(num_cells)), tf.int32)
    return tf.clip_by_value(count, 1, num_cells)


def sample_grid_cells(ratio, grid_height, grid_width, seed):
    """Each row keeps its own random set of `ceil(Gh * Gw * ratio)` cells.

    Every row ranks its cells by uniform noise (two argsorts, vectorised over
    the batch) and keeps the `count` lowest, i.e. a uniformly random subset of
    that size, drawn independently per row (as MixPro's per-sample
    `np.random.permutation`).

    Args:
        ratio: float tensor `(B,)`, the drawn ratio of every row.
        grid_height, grid_width: ints `Gh`, `Gw`.
        seed: `(2,)` int seed tensor (or an int).

    Returns:
        float32 tensor `(B, Gh, Gw)`: 1 = own cell, 0 = partner cell.

    Example:

    ```python
    import kmix.ops.grid as grid

    cells = grid.sample_grid_cells([0.3, 0.9], 2, 2, seed=0)
    print(cells.numpy().sum(axis=(1, 2)).tolist())  # [2.0, 4.0]
    ```
    """
    grid_height = check_int(grid_height, "grid_height", minimum=1)
    grid_width = check_int(grid_width, "grid_width", minimum=1)
    num_cells = grid_height * grid_width
    ratio = tf.cast(tf.convert_to_tensor(ratio), tf.float32)
    count = cell_counts(ratio, num_cells)
    shape = tf.stack([tf.shape(ratio)[0], num_cells])
    noise = tf.random.stateless_uniform(shape, to_seed_tensor(seed))
    rank = tf.argsort(tf.argsort(noise, axis=1, stable=True), axis=1, stable=True)
    cells = tf.cast(rank < count[:, None], tf.float32)
    return tf.reshape(cells, tf.stack([-1, grid_height, grid_width]))


def grid_to_pixel_mask(cells, mask_patch_size, height, width):
    """Pixel mask of a cell grid: each cell repeated `mask_patch_size` times, cropped.

    Args:
        cells: tensor `(B, Gh, Gw)`, 1 = own cell, with
            `Gh = ceil(height / mask_patch_size)`, `Gw = ceil(width / mask_patch_size)`.
        mask_patch_size: int, the side of a cell in pixels.
        height, width: ints `H`, `W`.

    Returns:
        float32 tensor `(B, H, W, 1)`, the own-pixel mask.

    Example:

    ```python
    import kmix.ops.grid as grid

    mask = grid.grid_to_pixel_mask([[[1.0, 0.0]]], 2, 1, 3)
    print(mask[0, :, :, 0].numpy().tolist())  # [[1.0, 1.0, 0.0]]
    ```
    """
    cells = _check_cells(cells, mask_patch_size, height, width)
    rows = tf.range(height) // mask_patch_size
    cols = tf.range(width) // mask_patch_size
    mask = tf.gather(tf.gather(cells, rows, axis=1), cols, axis=2)
    return mask[..., None]


def grid_to_token_mask(cells, mask_patch_size, patch_size, height, width):
    """ViT token mask of a cell grid, as MixPro builds it for its attention labels.

    Each cell covers `mask_patch_size // patch_size` tokens per side; the token
    grid is cropped to `(height // patch_size, width // patch_size)`. For image
    sides that are multiples of `patch_size` this equals
    `kmix.ops.token_mask(grid_to_pixel_mask(cells, ...), patch_size)`.

    Args:
        cells: tensor `(B, Gh, Gw)`, 1 = own cell.
        mask_patch_size: int, the cell side in pixels, a multiple of `patch_size`.
        patch_size: int, the ViT patch size.
        height, width: ints `H`, `W`.

    Returns:
        float32 tensor `(B, Nh * Nw)` with `Nh = H // patch_size`,
        `Nw = W // patch_size`, tokens in row-major order; 1 = own token.

    Example:

    ```python
    import kmix.ops.grid as grid

    tokens = grid.grid_to_token_mask([[[1.0, 0.0], [0.0, 0.0]]], 32, 16, 64, 64)
    print(tokens.numpy().reshape(4, 4)[:, 0].tolist())  # [1.0, 1.0, 0.0, 0.0]
    ```
    """
    cells = _check_cells(cells, mask_patch_size, height, width)
    patch_size = check_int(patch_size, "patch_size", minimum=1)
    if mask_patch_size % patch_size:
        raise ValueError(
            "`mask_patch_size` must be a multiple of `patch_size` so that cells "
            f"cover whole tokens. Received: mask_patch_size={mask_patch_size} and "
            f"patch_size={patch_size}"
        )
    per_cell = mask_patch_size // patch_size
    rows = tf.range(height // patch_size) // per_cell
    cols = tf.range(width // patch_size) // per_cell
    tokens = tf.gather(tf.gather(cells, rows, axis=1), cols, axis=2)
    return tf.reshape(tokens, tf.stack([tf.shape(tokens)[0], -1]))


__all__ = [
    "cell_counts",
    "grid_shape",
    "grid_to_pixel_mask",
    "grid_to_token_mask",
    "sample_grid_cells",
]
