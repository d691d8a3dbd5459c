"""Spectral-residual saliency (GuidedMixup's 'sr' maps) and the filters it is built from.

A restatement, batched and XLA-compilable, of the official GuidedMixup
`SpectralResidual(blur=7, sigma=3).transform_spectral_residual`
(`3neutronstar/GuidedMixup`, `spectral_residual.py`): torchvision's grayscale,
a resize to 128 x 128 when the height exceeds 128, `torch.fft.fft2`, a 3 x 3
box filter of the log amplitude with replicated borders, the inverse FFT's
modulus, torchvision's 7 x 7 Gaussian blur (sigma 3, reflected borders), and
the resize back. The filters are written as matrices applied on both image
axes (two matmuls, no convolution), so they run in either data format.
"""

import tensorflow as tf

# torchvision's `rgb_to_grayscale` weights (ITU-R 601-2 luma).
LUMA_WEIGHTS = (0.2989, 0.587, 0.114)
# The official code works at 128 x 128 when the height is larger.
MAX_SIDE = 128
# The official `SpectralResidual`'s epsilon under the amplitude's square root.
AMPLITUDE_EPS = 1e-10


def to_grayscale(images, channels_first=False):
    """torchvision's grayscale of a batch, float32 `(B, H, W)`.

    Three channels: `0.2989 R + 0.587 G + 0.114 B`; one channel: itself. Any
    other channel count, which torchvision refuses, gives the channel mean.

    Args:
        images: `(B, H, W, C)` (or `(B, C, H, W)` with `channels_first`).
        channels_first: bool, the layout of `images`.

    Returns:
        float32 `(B, H, W)`.
    """
    images = tf.cast(images, tf.float32)
    axis = 1 if channels_first else -1
    channels = images.shape[axis]
    if channels == 3:
        weights = tf.constant(LUMA_WEIGHTS, tf.float32)
        shape = [1, 3, 1, 1] if channels_first else [1, 1, 1, 3]
        return tf.reduce_sum(images * tf.reshape(weights, shape), axis=axis)
    return tf.reduce_mean(images, axis=axis)


def _padded_index(size, offsets, mode):
    """Source index of each padded position `(n, k)`: `i + offsets[k]`, folded into `[0, size)`."""
    position = tf.range(size)[:, None] + offsets[None, :]
    if mode == "replicate":
        return tf.clip_by_value(position, 0, size - 1)
    # "reflect" (no edge repeat, torch's `reflect`), folded as often as needed.
    period = tf.maximum(2 * (size - 1), 1)
    folded = tf.math.floormod(position, period)
    return tf.where(folded < size, folded, period - folded) * tf.cast(size > 1, tf.int32)


def filter_matrix(size, weights, mode):
    """The `(size, size)` matrix (or `(B, size, size)`) of a 1-D filter with padded borders.

    `out = M @ x` filters `x` along its first axis with the odd-length kernel
    `weights` (centred, correlation order) and `mode` padding.

    Args:
        size: int or scalar int32 tensor, the axis length.
        weights: float32 `(k,)`, or `(B, k)` for one kernel per row.
        mode: `"reflect"` or `"replicate"`.

    Returns:
        float32 `(size, size)`, or `(B, size, size)`.
    """
    weights = tf.convert_to_tensor(weights, tf.float32)
    k = weights.shape[-1]
    offsets = tf.range(k) - (k - 1) // 2
    one_hot = tf.one_hot(_padded_index(size, offsets, mode), size, dtype=tf.float32)  # (n, k, n)
    if weights.shape.rank == 1:
        return tf.einsum("nkm,k->nm", one_hot, weights)
    return tf.einsum("nkm,bk->bnm", one_hot, weights)


def apply_separable(maps, weights, mode):
    """Filters `(B, H, W)` maps with the same 1-D kernel along both axes.

    Args:
        maps: float32 `(B, H, W)`.
        weights: float32 `(k,)`, or `(B, k)` for one kernel per row.
        mode: `"reflect"` or `"replicate"`.

    Returns:
        float32 `(B, H, W)`.
    """
    shape = tf.shape(maps)
    height = maps.shape[1] if maps.shape[1] is not None else shape[1]
    width = maps.shape[2] if maps.shape[2] is not None else shape[2]
    rows = filter_matrix(height, weights, mode)
    cols = filter_matrix(width, weights, mode)
    if rows.shape.rank == 2:
        return tf.einsum("hi,biw,vw->bhv", rows, maps, cols)
    return tf.einsum("bhi,biw,bvw->bhv", rows, maps, cols)


def gaussian_weights(kernel_size, sigma):
    """torchvision's 1-D Gaussian kernel: `exp(-x^2 / (2 sigma^2))` on `linspace(-(k-1)/2, (k-1)/2, k)`, summing to 1.

    Args:
        kernel_size: odd int `k`.
        sigma: float, or float `(B,)` for one kernel per row.

    Returns:
        float32 `(k,)`, or `(B, k)`.
    """
    half = (kernel_size - 1) / 2.0
    x = tf.linspace(-half, half, kernel_size)
    sigma = tf.convert_to_tensor(sigma, tf.float32)
    pdf = tf.exp(-0.5 * tf.square(tf.cast(x, tf.float32) / sigma[..., None]))
    return pdf / tf.reduce_sum(pdf, axis=-1, keepdims=True)


def gaussian_blur(maps, kernel_size, sigma):
    """torchvision's `gaussian_blur` (reflected borders) of `(B, H, W)` maps.

    Args:
        maps: float32 `(B, H, W)`.
        kernel_size: odd int.
        sigma: float > 0, or float `(B,)` for one sigma per row.

    Returns:
        float32 `(B, H, W)`.
    """
    return apply_separable(tf.cast(maps, tf.float32), gaussian_weights(kernel_size, sigma), "reflect")


def _resize(maps, size):
    """Bilinear resize of `(B, H, W)` maps (half-pixel centres, antialiased when shrinking, as torchvision)."""
    return tf.image.resize(maps[..., None], size, method="bilinear", antialias=True)[..., 0]


def spectral_residual_saliency(images, channels_first=False, blur_size=7, blur_sigma=3.0):
    """Spectral-residual saliency maps of a batch, as the official GuidedMixup code.

    Hou & Zhang's spectral residual (CVPR 2007) as GuidedMixup computes it on
    the GPU: grayscale; if the height exceeds 128, a bilinear (antialiased)
    resize to 128 x 128; `F = fft2(gray)`, amplitude `A = sqrt(|F|^2 + 1e-10)`,
    residual `R = exp(log A - box3(log A))` (3 x 3 mean, replicated borders);
    saliency `|ifft2(F * R / A)|`, blurred (7 x 7, sigma 3, reflected
    borders) and resized back to `(H, W)`. Not normalised.

    Args:
        images: `(B, H, W, C)` (or `(B, C, H, W)` with `channels_first`), any
            real dtype; `C` is 1 or 3 (other counts use the channel mean).
        channels_first: bool, the layout of `images`.
        blur_size: odd int, the final blur's kernel size (`0`: no blur).
        blur_sigma: float > 0, the final blur's sigma.

    Returns:
        float32 `(B, H, W)`, non-negative.

    Example:

    ```python
    import numpy as np
    import kmix

    images = np.random.default_rng(0).random((2, 16, 20, 3)).astype("float32")
    print(kmix.ops.spectral_residual_saliency(images).shape)  # (2, 16, 20)
    ```
    """
    gray = to_grayscale(images, channels_first)
    shape = tf.shape(gray)
    height = gray.shape[1] if gray.shape[1] is not None else shape[1]
    width = gray.shape[2] if gray.shape[2] is not None else shape[2]

    def saliency_of(maps):
        spectrum = tf.signal.fft2d(tf.complex(maps, tf.zeros_like(maps)))
        re, im = tf.math.real(spectrum), tf.math.imag(spectrum)
        amplitude = tf.sqrt(re * re + im * im + AMPLITUDE_EPS)
        log_amplitude = tf.math.log(amplitude)
        box = tf.fill([3], 1.0 / 3.0)
        residual = tf.exp(log_amplitude - apply_separable(log_amplitude, box, "replicate"))
        scale = residual / amplitude
        inverse = tf.signal.ifft2d(tf.complex(re * scale, im * scale))
        re, im = tf.math.real(inverse), tf.math.imag(inverse)
        saliency = tf.sqrt(re * re + im * im)
        if blur_size:
            saliency = gaussian_blur(saliency, blur_size, blur_sigma)
        return saliency

    def at_most_128():
        return saliency_of(gray)

    def resized():
        small = saliency_of(_resize(gray, (MAX_SIDE, MAX_SIDE)))
        return _resize(small, tf.stack([height, width]) if tf.is_tensor(height) or tf.is_tensor(width)
                       else (height, width))

    if isinstance(height, int):
        return resized() if height > MAX_SIDE else at_most_128()
    return tf.cond(height > MAX_SIDE, resized, at_most_128)


__all__ = [
    "apply_separable",
    "filter_matrix",
    "gaussian_blur",
    "gaussian_weights",
    "spectral_residual_saliency",
    "to_grayscale",
]
