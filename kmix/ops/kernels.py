"""The blend kernels: the one implementation of applying a mask to two images.

`kmix.ops.blend` and `kmix.ops.mix_images` call `blend_values` directly; the
mixing layers call the fused versions below.

Applying a plan is memory-bound: read the batch, read the partner pixels,
write the result. Compiled by XLA, the gather, cast and blend fuse into one
pass over the batch, which is about twice as fast on CPU as the same ops run
one by one (see the benchmark in the README). Sampling stays outside these
kernels; they are pure functions of the images and the plan, and inside an
already XLA-compiled training step they are simply inlined.

`kmix.config.set_fused_kernels(False)` switches to plain TensorFlow ops (same
results) for environments where XLA is unavailable.
"""

import tensorflow as tf

from kmix.config import fused_kernels_enabled


def channels_mask(mask, channels_first):
    """A `(B, H, W, 1)` mask laid out as the images (`(B, 1, H, W)` channels first)."""
    return tf.transpose(mask, [0, 3, 1, 2]) if channels_first else mask


def blend_values(images, partner, mask, out_dtype, channels_first=False, binary=False):
    """`mask * images + (1 - mask) * partner` in float32, cast to `out_dtype`.

    With `binary` (a 0/1 mask) it selects instead of blending: the same values.
    """
    x = tf.cast(images, tf.float32)
    p = tf.cast(partner, tf.float32)
    m = channels_mask(mask, channels_first)
    if binary:
        out = tf.where(m > 0.5, x, p)
    else:
        out = p + tf.cast(m, tf.float32) * (x - p)
    return tf.cast(out, out_dtype)


def _blend_take(images, index, mask, out_dtype, channels_first, binary):
    return blend_values(images, tf.gather(images, index), mask, out_dtype, channels_first, binary)


def _blend_take_boxes(images, index, boxes, out_dtype, channels_first):
    """Pastes `take(images, index)` inside half-open boxes `(B, 4)`: `(yl, yh, xl, xh)`."""
    x = tf.cast(images, tf.float32)
    p = tf.gather(x, index)
    h_axis, w_axis = (2, 3) if channels_first else (1, 2)
    shape = [1, 1, 1, 1]
    yy = tf.reshape(tf.range(tf.shape(x)[h_axis]), [-1 if a == h_axis else 1 for a in range(4)])
    xx = tf.reshape(tf.range(tf.shape(x)[w_axis]), [-1 if a == w_axis else 1 for a in range(4)])
    yl, yh, xl, xh = [tf.reshape(boxes[:, j], [-1] + shape[1:]) for j in range(4)]
    inside = (yy >= yl) & (yy < yh) & (xx >= xl) & (xx < xh)
    return tf.cast(tf.where(inside, p, x), out_dtype)


_blend_take_xla = tf.function(_blend_take, jit_compile=True, reduce_retracing=True, autograph=False)
_blend_take_boxes_xla = tf.function(_blend_take_boxes, jit_compile=True, reduce_retracing=True, autograph=False)
_blend_xla = tf.function(blend_values, jit_compile=True, reduce_retracing=True, autograph=False)


def blend_take(images, index, mask, out_dtype, channels_first=False, binary=False):
    """`mask * images + (1 - mask) * take(images, index)` cast to `out_dtype`."""
    fn = _blend_take_xla if fused_kernels_enabled() else _blend_take
    return fn(images, index, mask, out_dtype, channels_first, binary)


def blend_take_boxes(images, index, boxes, out_dtype, channels_first=False):
    """Box paste from `take(images, index)`; equals `blend_take` with the box mask."""
    fn = _blend_take_boxes_xla if fused_kernels_enabled() else _blend_take_boxes
    return fn(images, index, tf.cast(boxes, tf.int32), out_dtype, channels_first)


def blend(images, partner, mask, out_dtype, channels_first=False, binary=False):
    """`mask * images + (1 - mask) * partner` cast to `out_dtype`."""
    fn = _blend_xla if fused_kernels_enabled() else blend_values
    return fn(images, partner, mask, out_dtype, channels_first, binary)
