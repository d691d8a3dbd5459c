"""From pixel masks to ViT token masks."""

import tensorflow as tf

from kmix.ops.validation import check_int


def token_mask(mask, patch_size):
    """Per ViT token, the own-image value of the mask at the token's top-left pixel.

    This is the official TransMix convention: PyTorch's nearest downsampling
    of the pixel mask to the token grid reads pixel `(i * p, j * p)` for token
    `(i, j)`, so a box that covers most of a patch but not its top-left pixel
    does not count for that token.

    Args:
        mask: float tensor `(B, H, W, 1)` (or `(B, H, W)`), the plan's own-pixel
            mask; a blend mask `(B, 1, 1, 1)` gives `(B, 1)`, which broadcasts
            over tokens.
        patch_size: int, the ViT patch size `p`. `H` and `W` must be multiples.

    Returns:
        float32 tensor `(B, N)`, `N = (H / p) * (W / p)`, tokens in row-major order.

    Example:

    ```python
    import tensorflow as tf
    import kmix

    mask = kmix.ops.box_mask(tf.constant([[0, 16, 0, 16]]), 32, 32)
    print(kmix.ops.token_mask(mask, 16).numpy().tolist())  # [[0.0, 1.0, 1.0, 1.0]]
    ```
    """
    patch_size = check_int(patch_size, "patch_size", minimum=1)
    mask = tf.cast(mask, tf.float32)
    if mask.shape.rank == 4:
        mask = mask[..., 0]
    if mask.shape.rank != 3:
        raise ValueError(
            "`mask` must have shape (B, H, W, 1) or (B, H, W). "
            f"Received: mask.shape={tuple(mask.shape)}"
        )
    height, width = mask.shape[1], mask.shape[2]
    if height == 1 and width == 1:
        return mask[:, 0, :]
    if height is not None and width is not None and (height % patch_size or width % patch_size):
        raise ValueError(
            f"The mask height and width must be multiples of `patch_size`. "
            f"Received: mask.shape={tuple(mask.shape)} and patch_size={patch_size}"
        )
    tokens = mask[:, ::patch_size, ::patch_size]
    return tf.reshape(tokens, [tf.shape(tokens)[0], -1])
