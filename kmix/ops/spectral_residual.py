"""Spectral-residual saliency (GuidedMixup's 'sr' maps) and the filters it is built from.

A restatement, batched and XLA-compilable, of the official GuidedMixup
`SpectralResidual(blur=7, sigma=3).transform_spectral_residual`
(`3neutronstar/GuidedMixup`, `spectral_residual.py`): torchvision's grayscale,
a resize to 128 x 128 when the height exceeds 128, `torch.fft.fft2`, a 3 x 3
box filter of the log amplitude with replicated borders, the inverse FFT's
modulus, torchvision's 7 x 7 Gaussian blur (sigma 3, reflected borders), and
the resize back. The filters and resizes act on `(B, H, W)` maps, so they
run in either data format: small maps (at most `DENSE_MAX_SIDE`) and
dynamic sizes by matrices on both axes, larger static maps by banded forms
(two 1-D convolutions, or shifted reads), the resizes by the band of TF's
own antialiased weights (XLA-compilable, unlike `tf.image.resize`'s).
"""

import functools

import numpy as np
import tensorflow as tf

from kmix.config import fused_kernels_enabled

# torchvision's `rgb_to_grayscale` weights (ITU-R 601-2 luma).
LUMA_WEIGHTS = (0.2989, 0.587, 0.114)
# The official code works at 128 x 128 when the height is larger.
MAX_SIDE = 128
# The official `SpectralResidual`'s epsilon under the amplitude's square root.
AMPLITUDE_EPS = 1e-10
# Batches of at least this many values (or of unknown size) run as one XLA kernel.
XLA_MIN_PIXELS = 1 << 16
# Maps up to this side are filtered by dense matrices (faster there than convolutions).
DENSE_MAX_SIDE = 64


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


def _filter_taps(size, k, mode):
    """Static int32 `(size, k)`: the source index of each tap (numpy restatement of `_padded_index`)."""
    position = np.arange(size)[:, None] + (np.arange(k) - (k - 1) // 2)[None, :]
    if mode == "replicate":
        return np.clip(position, 0, size - 1).astype(np.int32)
    period = max(2 * (size - 1), 1)
    folded = np.mod(position, period)
    return (np.where(folded < size, folded, period - folded) * int(size > 1)).astype(np.int32)


def _apply_taps(maps, taps, tap_weights, axis):
    """`sum_t tap_weights[t] * maps[taps[:, t]]` along `axis` of `(B, H, W)` maps: a banded filter.

    `taps`: static int `(n, T)` source indices; `tap_weights[t]` broadcasts
    against the output. `T` static gathers (or the maps themselves), no dense
    matrix: `T` multiply-adds per pixel.
    """
    total = None
    for t in range(taps.shape[1]):
        column = taps[:, t]
        same = column.shape[0] == maps.shape[axis] and np.array_equal(column, np.arange(column.shape[0]))
        term = (maps if same else tf.gather(maps, column, axis=axis)) * tap_weights[t]
        total = term if total is None else total + term
    return total


def _pad_borders(maps, pad, mode):
    """`(B, H, W)` maps padded by `pad` on both axes: torch's `reflect` (no edge repeat) or `replicate`."""
    if mode == "reflect":
        return tf.pad(maps, [[0, 0], [pad, pad], [pad, pad]], "REFLECT")
    if pad <= 1:  # one replicated pixel is the symmetric padding
        return tf.pad(maps, [[0, 0], [pad, pad], [pad, pad]], "SYMMETRIC")
    for axis in (1, 2):
        first = tf.gather(maps, [0], axis=axis)
        last = tf.gather(maps, [maps.shape[axis] - 1], axis=axis)
        maps = tf.concat([tf.repeat(first, pad, axis=axis), maps, tf.repeat(last, pad, axis=axis)], axis=axis)
    return maps


def _slice_filter(maps, weights, mode):
    """`(B, H, W)` maps filtered along both axes by one static-size kernel, as shifted slices."""
    k = weights.shape[0]
    pad = (k - 1) // 2
    height, width = maps.shape[1], maps.shape[2]
    padded = _pad_borders(maps, pad, mode)
    rows = None
    for t in range(k):
        term = weights[t] * padded[:, t:t + height, :]
        rows = term if rows is None else rows + term
    out = None
    for t in range(k):
        term = weights[t] * rows[:, :, t:t + width]
        out = term if out is None else out + term
    return out


_slice_filter_xla = tf.function(_slice_filter, jit_compile=True, autograph=False)


def _large_static(maps):
    """Static maps with a side over `DENSE_MAX_SIDE`: filtered by banded forms, not dense matrices."""
    return None not in maps.shape[1:] and max(maps.shape[1:]) > DENSE_MAX_SIDE


def _one_banded_kernel(maps, weights, mode):
    """One 1-D kernel for every row whose padded border fits in the maps (torch's `reflect` rule)."""
    return weights.shape.rank == 1 and (mode == "replicate" or (weights.shape[-1] - 1) // 2 < min(maps.shape[1:]))


def apply_separable(maps, weights, mode):
    """Filters `(B, H, W)` maps with the same 1-D kernel along both axes.

    Args:
        maps: float32 `(B, H, W)`.
        weights: float32 `(k,)`, or `(B, k)` for one kernel per row.
        mode: `"reflect"` or `"replicate"`.

    Returns:
        float32 `(B, H, W)`.
    """
    weights = tf.convert_to_tensor(weights, tf.float32)
    if _large_static(maps):
        # Large static maps: banded forms (small maps: the dense matrices below).
        k = weights.shape[-1]
        pad = (k - 1) // 2
        if _one_banded_kernel(maps, weights, mode):
            if fused_kernels_enabled():
                # One XLA kernel of `k` shifted slices per axis (a third of the
                # time of the two convolutions below; same sums up to rounding).
                return _slice_filter_xla(maps, weights, mode)
            # One kernel: padded borders and two 1-D convolutions.
            padded = _pad_borders(maps, pad, mode)[..., None]
            padded = tf.nn.conv2d(padded, tf.reshape(weights, [k, 1, 1, 1]), 1, "VALID")
            return tf.nn.conv2d(padded, tf.reshape(weights, [1, k, 1, 1]), 1, "VALID")[..., 0]
        # One kernel per row: `k` shifted reads per axis.
        if weights.shape.rank == 1:
            tap_weights = [weights[t] for t in range(k)]
        else:
            tap_weights = [tf.reshape(weights[:, t], [-1, 1, 1]) for t in range(k)]
        maps = _apply_taps(maps, _filter_taps(maps.shape[1], k, mode), tap_weights, 1)
        return _apply_taps(maps, _filter_taps(maps.shape[2], k, mode), tap_weights, 2)
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


@functools.lru_cache(maxsize=None)
def _resize_taps(size_in, size_out):
    """The band of TF's antialiased bilinear resize of one axis: int32 `(out, T)` sources, float32 weights.

    Read off `tf.image.resize` of the identity (run eagerly, once per size
    pair), so the weights are TF's own.
    """
    with tf.init_scope():
        eye = tf.eye(size_in)[None, :, :, None]
        matrix = tf.image.resize(eye, (size_out, size_in), method="bilinear", antialias=True)[0, :, :, 0].numpy()
    nonzero = matrix != 0
    start = np.argmax(nonzero, axis=1)
    last = size_in - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    count = int(max(1, (last - start + 1).max()))
    position = start[:, None] + np.arange(count)[None, :]
    taps = np.minimum(position, size_in - 1).astype(np.int32)
    weights = np.where(position < size_in, np.take_along_axis(matrix, taps, axis=1), 0.0)
    return taps, weights.astype(np.float32)


def _resize(maps, size):
    """Bilinear resize of `(B, H, W)` maps (half-pixel centres, antialiased when shrinking, as torchvision).

    Static sizes: the same weights as `tf.image.resize` applied as banded
    filters per axis (XLA-compilable; `tf.image.resize`'s antialiased kernel
    is not).
    """
    static = all(isinstance(n, int) for n in (*maps.shape[1:], *size))
    if not static:
        return tf.image.resize(maps[..., None], size, method="bilinear", antialias=True)[..., 0]
    taps, weights = _resize_taps(maps.shape[1], size[0])
    maps = _apply_taps(maps, taps, [w[None, :, None] for w in weights.T], 1)
    taps, weights = _resize_taps(maps.shape[2], size[1])
    return _apply_taps(maps, taps, [w[None, None, :] for w in weights.T], 2)


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
    images = tf.convert_to_tensor(images)
    fused = fused_kernels_enabled() and worth_fusing(images.shape)
    height, width = (images.shape[2], images.shape[3]) if channels_first else (images.shape[1], images.shape[2])
    if isinstance(height, int) and isinstance(width, int):
        if height <= MAX_SIDE:
            # Small maps (dense-matrix filters) fuse into one XLA kernel.
            small = fused and max(height, width) <= DENSE_MAX_SIDE
            return (_gray_saliency_xla if small else _gray_saliency)(images, channels_first, blur_size, blur_sigma)
        # Static and large: the grayscale and both resizes as XLA kernels, the
        # FFTs and the (convolution) filters as plain ops.
        small = (_small_gray_xla if fused else _small_gray)(images, channels_first)
        saliency = _saliency_of(small, blur_size, blur_sigma)
        return (_resize_xla if fused else _resize)(saliency, (height, width))
    gray = to_grayscale(images, channels_first)
    shape = tf.shape(gray)
    height = gray.shape[1] if gray.shape[1] is not None else shape[1]
    width = gray.shape[2] if gray.shape[2] is not None else shape[2]

    def resized():
        small = _saliency_of(_resize(gray, (MAX_SIDE, MAX_SIDE)), blur_size, blur_sigma)
        return _resize(small, tf.stack([height, width]) if tf.is_tensor(height) or tf.is_tensor(width)
                       else (height, width))

    if isinstance(height, int):
        return resized() if height > MAX_SIDE else _saliency_of(gray, blur_size, blur_sigma)
    return tf.cond(height > MAX_SIDE, resized, lambda: _saliency_of(gray, blur_size, blur_sigma))


def worth_fusing(shape):
    """Static image sizes, and a batch of unknown size or of at least `XLA_MIN_PIXELS` values."""
    if shape.rank is None or any(n is None for n in shape[1:]):
        return False
    return shape[0] is None or shape.num_elements() >= XLA_MIN_PIXELS


def _saliency_of(maps, blur_size, blur_sigma):
    """The spectral residual of grayscale `(B, h, w)` maps, blurred, at their own size."""
    spectrum = tf.signal.fft2d(tf.complex(maps, tf.zeros_like(maps)))
    weights = gaussian_weights(blur_size, blur_sigma) if blur_size else None
    one_kernel = weights is None or _one_banded_kernel(maps, weights, "reflect")
    if fused_kernels_enabled() and _large_static(maps) and one_kernel:
        # Large static maps: the spectral arithmetic, and the modulus with the
        # blur, each one XLA kernel around the (plain) FFTs.
        inverse = tf.signal.ifft2d(_residual_spectrum_xla(spectrum))
        if weights is None:
            return _modulus_xla(inverse)
        return _modulus_blur_xla(inverse, weights)
    saliency = _modulus(tf.signal.ifft2d(_residual_spectrum(spectrum)))
    if blur_size:
        saliency = apply_separable(saliency, weights, "reflect")
    return saliency


def _residual_spectrum(spectrum, box_filter=None):
    """`F * R / A` of a spectrum `F`: `F * exp(-box3(log A))`, `log A = log(|F|^2 + eps) / 2`.

    The same value as the official `F * exp(log A - box3(log A)) / A` (`R / A`
    with `R = exp(log A - box3(log A))`): one exp, no square root or division.
    `box_filter(maps, weights, mode)` filters the log amplitude (default:
    `apply_separable`).
    """
    re, im = tf.math.real(spectrum), tf.math.imag(spectrum)
    log_amplitude = 0.5 * tf.math.log(re * re + im * im + AMPLITUDE_EPS)
    box = tf.fill([3], 1.0 / 3.0)
    scale = tf.exp(-(box_filter or apply_separable)(log_amplitude, box, "replicate"))
    return tf.complex(re * scale, im * scale)


def _modulus(inverse):
    re, im = tf.math.real(inverse), tf.math.imag(inverse)
    return tf.sqrt(re * re + im * im)


def _modulus_blur(inverse, weights):
    """`|inverse|` blurred by one 1-D kernel on both axes (reflected borders), as shifted slices."""
    return _slice_filter(_modulus(inverse), weights, "reflect")


def _gray_saliency(images, channels_first, blur_size, blur_sigma):
    """`spectral_residual_saliency` of images of at most `MAX_SIDE` rows."""
    return _saliency_of(to_grayscale(images, channels_first), blur_size, blur_sigma)


def _small_gray(images, channels_first):
    """The grayscale of static-size images resized to `MAX_SIDE x MAX_SIDE`."""
    return _resize(to_grayscale(images, channels_first), (MAX_SIDE, MAX_SIDE))


def _residual_spectrum_slices(spectrum):
    """`_residual_spectrum` with the box filter as shifted slices (static large maps, in XLA)."""
    return _residual_spectrum(spectrum, _slice_filter)


# XLA kernels (see `kmix.config.set_fused_kernels`) for large batches: the
# grayscale and resizes fuse into a few passes (banded gathers); the FFTs and
# the convolutions of larger maps run faster as plain TensorFlow ops (XLA
# recomputes a convolution's input per tap), those of small maps (dense
# matrices) in one kernel.
_gray_saliency_xla = tf.function(_gray_saliency, jit_compile=True, autograph=False)
_small_gray_xla = tf.function(_small_gray, jit_compile=True, autograph=False)
_resize_xla = tf.function(_resize, jit_compile=True, autograph=False)
# Around the FFTs of large maps: the spectral arithmetic, and the modulus with
# the blur, one pass each (about 3 ms less of 44 at 64x224x224).
_residual_spectrum_xla = tf.function(_residual_spectrum_slices, jit_compile=True, autograph=False)
_modulus_xla = tf.function(_modulus, jit_compile=True, autograph=False)
_modulus_blur_xla = tf.function(_modulus_blur, jit_compile=True, autograph=False)


__all__ = [
    "apply_separable",
    "worth_fusing",
    "filter_matrix",
    "gaussian_blur",
    "gaussian_weights",
    "spectral_residual_saliency",
    "to_grayscale",
]
