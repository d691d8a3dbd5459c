"""OpenCV's static fine-grained saliency (Montabone & Soto, 2010), batched in TF.

A re-statement of `cv2.saliency.StaticSaliencyFineGrained().computeSaliency`
(opencv_contrib `modules/saliency/src/staticSaliencyFineGrained.cpp`), the
detector SaliencyMix's official code runs, vectorised over a batch, on static
shapes and XLA-compilable. The steps, as the C++ runs them:

1. gray image: `cvtColor(BGR2GRAY)` (channel 0 read as blue);
2. two 3x3 Gaussian blurs (kernel `[1/4, 1/2, 1/4]`, border reflect-101);
3. the integral image of the blurred gray image (float32);
4. for each of 6 neighbourhoods `n` in `(12, 24, 48, 28, 56, 112)`, the mean
   `m` of the other pixels of the window `[y - n + 1, y + n + 1) x
   [x - n + 1, x + n + 1)` (clipped to the image), and the 8-bit
   "on" and "off" responses `uchar(p - m)`, `uchar(m - p)` where positive;
5. on and off summed over the scales, each scaled to `[0, 255]` by its maximum,
   added, scaled by the larger maximum, truncated to 8 bits; the map is that
   byte times `1/255`.

The pixel `p` of step 4 is read with `gray.at<uchar>(y, x)`. For an 8-bit
image (`pixels="uint8"`) it is the gray value. For a float32 image (what the
official SaliencyMix passes: the normalised CHW tensor transposed to HWC),
`cvtColor` makes a float32 gray image and `at<uchar>` reads its raw bytes:
`p(y, x)` is byte `x % 4` of the float `gray(y, x // 4)` (little endian), while
the integral image holds the float values. `pixels="float32"` reproduces that
(the official behaviour); `pixels="uint8"` is the detector as written for
8-bit images, and `pixels="rescaled"` stretches each image to `[0, 255]` first.

Equality with OpenCV 5.1.0 (opencv-contrib-python-headless, x86-64 with FMA):
the float32 gray conversion is OpenCV's fused multiply-adds
`fma(r, 0.299, fma(b, 0.114, g * 0.587))` (restated exactly in float64), the
blurs `b/2 + (a + c)/4` per axis; the 8-bit path uses OpenCV's fixed-point
gray (`(3735 b + 19235 g + 9798 r + 2^14) >> 15`) and its bit-exact 8-bit blur
(`(sum of 1-2-1 weights + 8) >> 4`), and its integral image is exact (sums of
integers below `2^24`). The one sum not restated bit for bit is the float32
integral image of the float path (OpenCV accumulates it in SIMD order, which
depends on the CPU): it enters only the neighbourhood means, where one ulp
changes a truncated byte only when a mean lies within an ulp of an integer.
"""

import numpy as np
import tensorflow as tf

from kmix.config import fused_kernels_enabled
from kmix.ops.validation import check_one_of

NEIGHBORHOODS = (12, 24, 48, 28, 56, 112)
PIXEL_FORMS = ("float32", "uint8", "rescaled")
# Batches of at least this many pixels (or of unknown size) run as one XLA kernel.
XLA_MIN_PIXELS = 1 << 16


def _gray_float32(images):
    """OpenCV's float32 BGR2GRAY: `fma(r, 0.299f, fma(b, 0.114f, g * 0.587f))`."""
    channels = images.shape[-1]
    if channels == 1:
        return images[..., 0]
    if channels != 3:
        return tf.reduce_mean(images, axis=-1)
    b, g, r = images[..., 0], images[..., 1], images[..., 2]

    def fma(x, coef, y):
        # x * coef is exact in float64 (24 x 24 bits); the sum rounds once
        # to float64 and once to float32, as a fused multiply-add does except
        # on double-rounding ties (probability about 2^-29).
        coef = tf.constant(float(np.float32(coef)), tf.float64)
        return tf.cast(tf.cast(x, tf.float64) * coef + tf.cast(y, tf.float64), tf.float32)

    return fma(r, 0.299, fma(b, 0.114, g * np.float32(0.587)))


def _gray_uint8(images):
    """OpenCV's 8-bit BGR2GRAY (15-bit fixed point, rounded)."""
    pixels = tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.int32)
    channels = pixels.shape[-1]
    if channels == 1:
        return pixels[..., 0]
    if channels != 3:
        return (tf.reduce_sum(pixels, axis=-1) + channels // 2) // channels
    b, g, r = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (b * 3735 + g * 19235 + r * 9798 + 16384) // 32768


def _blur_float32(gray):
    """3x3 Gaussian blur of OpenCV in float32: per axis `b/2 + (a + c)/4`."""

    height, width = gray.shape[1], gray.shape[2]
    p = tf.pad(gray, [[0, 0], [0, 0], [1, 1]], "REFLECT")
    rows = p[:, :, 1:width + 1] * 0.5 + (p[:, :, 0:width] + p[:, :, 2:width + 2]) * 0.25
    p = tf.pad(rows, [[0, 0], [1, 1], [0, 0]], "REFLECT")
    return p[:, 1:height + 1] * 0.5 + (p[:, 0:height] + p[:, 2:height + 2]) * 0.25


def _blur_uint8(gray):
    """OpenCV's bit-exact 8-bit 3x3 Gaussian blur: `(1-2-1 weighted sum + 8) >> 4`."""
    padded = tf.pad(gray, [[0, 0], [1, 1], [1, 1]], "REFLECT")
    height, width = gray.shape[1], gray.shape[2]
    rows = padded[:, 0:height] + 2 * padded[:, 1:height + 1] + padded[:, 2:height + 2]
    total = rows[:, :, 0:width] + 2 * rows[:, :, 1:width + 1] + rows[:, :, 2:width + 2]
    return (total + 8) // 16


def _float_bytes(gray):
    """`gray.at<uchar>(y, x)` on a float32 image: byte `x % 4` of float `(y, x // 4)`."""
    width = gray.shape[2]
    bits = tf.bitcast(gray, tf.int32)
    parts = [tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, 8 * k), 255) for k in range(4)]
    raw = tf.reshape(tf.stack(parts, axis=-1), [-1, gray.shape[1], 4 * width])
    return raw[:, :, :width]


def _window_areas(height, width):
    """float32 `(S, H, W)`: each window's pixel count minus one, for the `S` neighbourhoods."""
    ys = np.arange(height)[None, :, None]
    xs = np.arange(width)[None, None, :]
    n = np.asarray(NEIGHBORHOODS)[:, None, None]
    x1, x2 = np.clip(xs - n + 1, 0, width), np.clip(xs + n + 1, 0, width)
    y1, y2 = np.clip(ys - n + 1, 0, height), np.clip(ys + n + 1, 0, height)
    return ((x2 - x1) * (y2 - y1) - 1).astype(np.float32)


def _truncate_byte(value):
    """`(uchar)value` of C on x86-64 for value > 0: truncate, keep the low 8 bits."""
    return tf.bitwise.bitwise_and(tf.cast(tf.maximum(value, 0.0), tf.int32), 255)


def _scaled(total, maximum):
    """`(uchar)(255. * (float)(total / (float)maximum))`; a zero maximum gives 0."""
    ratio = tf.cast(total, tf.float32) / tf.cast(tf.maximum(maximum, 1), tf.float32)
    out = tf.cast(255.0 * tf.cast(ratio, tf.float64), tf.int32)
    return tf.where(maximum > 0, out, 0)


def check_saliency_images(images, pixels="float32", name="images"):
    """Checks the input of `fine_grained_saliency`; returns float32 images.

    Raises:
        ValueError: if `pixels` is unknown, or `images` is not `(B, H, W, C)`
            with static `H, W >= 2` and `C`.
    """
    check_one_of(pixels, "pixels", PIXEL_FORMS)
    images = tf.convert_to_tensor(images)
    shape = images.shape
    if (
        shape.rank != 4
        or shape[1] is None
        or shape[2] is None
        or shape[1] < 2
        or shape[2] < 2
        or shape[3] is None
    ):
        dims = "unknown"
        if shape.rank is not None:
            dims = "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
        raise ValueError(
            "The fine-grained saliency needs channels-last images (B, H, W, C) with "
            f"static H, W >= 2 and C. Received: {name}.shape={dims}"
        )
    return tf.cast(images, tf.float32)


def fine_grained_saliency(images, pixels="float32"):
    """OpenCV's `StaticSaliencyFineGrained` saliency map of every image.

    Equals `cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency(img)`
    row by row (see the module docstring for what is exact and where).

    Args:
        images: `(B, H, W, C)` channels-last images, static `H, W >= 2`. With
            `C = 3` channel 0 is read as blue (as OpenCV does with the RGB
            tensor SaliencyMix gives it); `C = 1` is the gray image itself (as
            OpenCV); other `C` (undefined in OpenCV) use the channel mean.
        pixels: `"float32"`: the images as float32, as the official SaliencyMix
            passes its normalised tensor (OpenCV then reads the raw bytes of the
            float gray image as its 8-bit pixels; module docstring).
            `"uint8"`: the images rounded and clipped to 8-bit values `[0, 255]`,
            the input the detector is written for.
            `"rescaled"`: each image first stretched from its own minimum and
            maximum (over pixels and channels) to `[0, 255]`, then as
            `"uint8"`: the detector on the image content whatever the range
            (normalised, `[0, 1]` or `[0, 255]`).

    Returns:
        float32 `(B, H, W)`: the saliency maps, multiples of `1/255` in `[0, 1]`.

    Example:

    ```python
    import numpy as np
    from kmix.ops.fine_grained_saliency import fine_grained_saliency

    images = np.zeros((1, 16, 16, 3), np.float32)
    images[0, 6:9, 9:12] = 255.0
    maps = fine_grained_saliency(images, pixels="uint8")
    print(maps.shape, float(maps.numpy().max()))  # (1, 16, 16) 1.0
    ```
    """
    images = check_saliency_images(images, pixels)
    areas = tf.constant(_window_areas(images.shape[1], images.shape[2]))
    pixel_count = None if images.shape[0] is None else images.shape[0] * images.shape[1] * images.shape[2]
    fused = fused_kernels_enabled() and (pixel_count is None or pixel_count >= XLA_MIN_PIXELS)
    return (_maps_xla if fused else _maps)(images, areas, pixels)


def _gray(images, pixels):
    """The gray image before the blurs: float32 (`"float32"`) or int32 8-bit values."""
    if pixels == "rescaled":
        low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
        high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
        images = tf.math.divide_no_nan(images - low, high - low) * 255.0
        pixels = "uint8"
    return _gray_float32(images) if pixels == "float32" else _gray_uint8(images)


def _blur(gray):
    """One 3x3 Gaussian blur of the gray image, in its own arithmetic."""
    return _blur_float32(gray) if gray.dtype == tf.float32 else _blur_uint8(gray)


def _integral_and_centre(gray):
    """The integral image (float32, summed along rows then columns as OpenCV) and the pixel `p` read at each position (float32)."""
    integral = tf.cast(tf.cumsum(tf.cumsum(gray, axis=2), axis=1), tf.float32)
    centre = _float_bytes(gray) if gray.dtype == tf.float32 else gray
    return integral, tf.cast(centre, tf.float32)


def _responses(integral, centre, areas):
    """The on and off responses (int32) summed over the scales, from the integral image, the centre pixels and `_window_areas`."""
    height, width = centre.shape[1], centre.shape[2]
    # The window sums, `((I[y2, x2] + I[y1, x1]) - I[y2, x1]) - I[y1, x2]` on
    # the zero-padded integral image `I`, read by static slices at the clipped
    # window corners (the same values, summed in the same order, as OpenCV).
    # Padded once: zeros before (the integral's zero row and column, where
    # the low corners clip) and copies of the last row and column after
    # (where the high corners clip); each corner is then one static slice.
    # Offsets beyond the image read the same clipped row, so they are capped
    # at the image size (which bounds the padding).
    most = max(NEIGHBORHOODS)
    low_pad = (min(most, height) - 1, min(most, width) - 1)
    high_pad = (min(most + 1, height) - 1, min(most + 1, width) - 1)
    integral = tf.pad(integral, [[0, 0], [low_pad[0] + 1, 0], [low_pad[1] + 1, 0]])
    for axis in (1, 2):
        last = tf.gather(integral, [integral.shape[axis] - 1], axis=axis)
        integral = tf.concat([integral, tf.repeat(last, high_pad[axis - 1], axis=axis)], axis=axis)

    def corner(dy, dx):
        dy = min(max(dy, 1 - height), height) + low_pad[0]
        dx = min(max(dx, 1 - width), width) + low_pad[1]
        return integral[:, dy:dy + height, dx:dx + width]

    on_total = off_total = 0
    for scale, n in enumerate(NEIGHBORHOODS):
        low, high = 1 - n, n + 1
        value = ((corner(high, high) + corner(low, low)) - corner(high, low)) - corner(low, high)
        value = (value - centre) / areas[scale]
        on_total += _truncate_byte(centre - value)
        off_total += _truncate_byte(value - centre)
    return on_total, off_total


def _combine(on_total, off_total):
    """The map from the summed on and off responses: each scaled by its maximum, added, rescaled."""
    height, width = on_total.shape[1], on_total.shape[2]
    on_total = tf.reshape(on_total, [-1, height * width])
    off_total = tf.reshape(off_total, [-1, height * width])
    on = _scaled(on_total, tf.reduce_max(on_total, axis=1, keepdims=True))
    off = _scaled(off_total, tf.reduce_max(off_total, axis=1, keepdims=True))
    top = tf.maximum(tf.reduce_max(on, axis=1, keepdims=True), tf.reduce_max(off, axis=1, keepdims=True))
    mixed = 255.0 * tf.cast(on + off, tf.float64) / tf.cast(tf.maximum(top, 1), tf.float64)
    intensity = tf.where(top > 0, tf.bitwise.bitwise_and(tf.cast(mixed, tf.int32), 255), 0)
    saliency = tf.cast(intensity, tf.float32) * np.float32(1.0 / 255.0)
    return tf.reshape(saliency, [-1, height, width])


def _maps(images, areas, pixels):
    """`fine_grained_saliency` of checked float32 images (`_maps_xla`: as XLA kernels)."""
    gray = _blur(_blur(_gray(images, pixels)))
    return _combine(*_responses(*_integral_and_centre(gray), areas))


def _maps_xla(images, areas, pixels):
    gray = _blur_xla(_blur_xla(_gray_xla(images, pixels)))
    return _combine_xla(*_responses_xla(*_integral_and_centre_xla(gray), areas))


# Fused XLA kernels (see `kmix.config.set_fused_kernels`): the same
# values (integer and exactly rounded steps; the areas are an input so that
# XLA divides by them rather than multiplying by a rounded reciprocal), about
# 3x faster on CPU. Several kernels, not one: fused together, XLA recomputes
# the stencils' inputs per tap. Small batches of known size (fewer than `XLA_MIN_PIXELS`
# pixels) run as plain ops: not worth a compilation per shape.
_gray_xla = tf.function(_gray, jit_compile=True, autograph=False)
_blur_xla = tf.function(_blur, jit_compile=True, autograph=False)
_integral_and_centre_xla = tf.function(_integral_and_centre, jit_compile=True, autograph=False)
_responses_xla = tf.function(_responses, jit_compile=True, autograph=False)
_combine_xla = tf.function(_combine, jit_compile=True, autograph=False)


def saliency_peak(saliency):
    """The first maximum of each map in row-major order, as `np.argmax` finds it.

    Args:
        saliency: float `(B, H, W)` maps (e.g. `fine_grained_saliency`).

    Returns:
        int32 `(B, 2)`: `(row, column)` of each map's first maximum.
    """
    saliency = tf.convert_to_tensor(saliency)
    height, width = saliency.shape[1], saliency.shape[2]
    flat = tf.reshape(saliency, [-1, height * width])
    top = tf.reduce_max(flat, axis=1, keepdims=True)
    positions = tf.range(height * width, dtype=tf.int32)[None, :]
    first = tf.reduce_min(tf.where(flat >= top, positions, height * width), axis=1)
    return tf.stack([first // width, first % width], axis=-1)


__all__ = ["fine_grained_saliency", "saliency_peak", "check_saliency_images"]
