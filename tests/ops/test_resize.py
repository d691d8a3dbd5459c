"""kmix.ops.resize: the resized partner against NumPy loops (PyTorch's rules), ResizeMix's boxes."""

import numpy as np
import tensorflow as tf

import kmix
from kmix.ops import resize


# ----------------------------------------------------------------------
# NumPy references (loops; readable rather than fast)
# ----------------------------------------------------------------------
def _nearest_source(dst, in_size, out_size):
    # PyTorch `nearest_idx`: float32 scale = in / out, floor(dst * scale), capped.
    scale = np.float32(in_size) / np.float32(out_size)
    return min(int(np.floor(np.float32(dst) * scale)), in_size - 1)


def np_resize_nearest(img, out_h, out_w):
    in_h, in_w = img.shape[:2]
    out = np.empty((out_h, out_w) + img.shape[2:], img.dtype)
    for y in range(out_h):
        for x in range(out_w):
            out[y, x] = img[_nearest_source(y, in_h, out_h), _nearest_source(x, in_w, out_w)]
    return out


def _bilinear_source(dst, in_size, out_size):
    # PyTorch `area_pixel_compute_source_index`, align_corners=False.
    scale = np.float32(in_size) / np.float32(out_size)
    src = max((dst + 0.5) * scale - 0.5, 0.0)
    low = min(int(np.floor(src)), in_size - 1)
    return low, min(low + 1, in_size - 1), src - low


def np_resize_bilinear(img, out_h, out_w):
    in_h, in_w = img.shape[:2]
    img = img.astype(np.float64)
    out = np.empty((out_h, out_w) + img.shape[2:])
    for y in range(out_h):
        y0, y1, wy = _bilinear_source(y, in_h, out_h)
        for x in range(out_w):
            x0, x1, wx = _bilinear_source(x, in_w, out_w)
            top = (1 - wx) * img[y0, x0] + wx * img[y0, x1]
            bottom = (1 - wx) * img[y1, x0] + wx * img[y1, x1]
            out[y, x] = (1 - wy) * top + wy * bottom
    return out


def _images(shape, seed=0):
    # Row i's values lie in [i, i + 1): any pixel names its source row.
    rng = np.random.default_rng(seed)
    return (rng.random(shape) + np.arange(shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))).astype(
        np.float32
    )


# ----------------------------------------------------------------------
# The op
# ----------------------------------------------------------------------
BOXES = np.array(
    [
        [0, 13, 0, 17],  # the whole image: the partner itself
        [0, 1, 16, 17],  # one pixel in a corner
        [2, 11, 3, 9],  # odd sizes inside
        [5, 13, 0, 4],  # touching the border
    ]
)


def test_resized_partner_nearest_matches_numpy_loop():
    images = _images((4, 13, 17, 2))
    index = np.array([2, 0, 3, 1])
    out = resize.resized_partner(images, index, BOXES).numpy()
    for i, (yl, yh, xl, xh) in enumerate(BOXES):
        expected = np_resize_nearest(images[index[i]], yh - yl, xh - xl)
        np.testing.assert_array_equal(out[i, yl:yh, xl:xh], expected)
    np.testing.assert_array_equal(out[0], images[2])


def test_resized_partner_bilinear_matches_numpy_loop_and_tf_resize():
    images = _images((4, 13, 17, 2))
    index = np.array([2, 0, 3, 1])
    out = resize.resized_partner(images, index, BOXES, interpolation="bilinear").numpy()
    for i, (yl, yh, xl, xh) in enumerate(BOXES):
        expected = np_resize_bilinear(images[index[i]], yh - yl, xh - xl)
        np.testing.assert_allclose(out[i, yl:yh, xl:xh], expected, rtol=1e-5, atol=1e-5)
        # An independent implementation: TF's half-pixel bilinear without antialiasing.
        tf_resized = tf.image.resize(images[index[i]], (yh - yl, xh - xl), antialias=False)
        np.testing.assert_allclose(out[i, yl:yh, xl:xh], tf_resized.numpy(), rtol=1e-5, atol=1e-5)


def test_nearest_follows_pytorch_float32_scale():
    # 26 -> 22: the float32 scale 26/22 rounds down, so PyTorch's floor(dst * scale)
    # reads one source pixel lower than the exact rational floor(dst * 26 / 22).
    row = np.arange(26, dtype=np.float32).reshape(1, 1, 26, 1)
    out = resize.resized_partner(row, [0], [[0, 1, 0, 22]]).numpy()[0, 0, :22, 0]
    torch_rule = [_nearest_source(d, 26, 22) for d in range(22)]
    rational = [d * 26 // 22 for d in range(22)]
    np.testing.assert_array_equal(out, torch_rule)
    assert sum(a != b for a, b in zip(torch_rule, rational)) == 1


def test_boxes_from_mask_round_trips_and_empty_mask_gives_zero_box():
    mask = kmix.ops.box_mask(tf.constant(BOXES[1:]), 13, 17)
    np.testing.assert_array_equal(resize.boxes_from_mask(mask).numpy(), BOXES[1:])
    np.testing.assert_array_equal(resize.boxes_from_mask(tf.ones([2, 5, 6, 1])).numpy(), 0)


def test_resize_boxes_follow_rand_bbox():
    tau = np.array([0.5, 0.8, 0.1, 0.33], np.float32)
    cy, cx = np.array([0, 31, 16, 7]), np.array([40, 3, 20, 47])
    boxes = resize.resize_boxes(tau, cy, cx, 32, 48).numpy()
    for t, y, x, box in zip(tau, cy, cx, boxes):
        cut_h, cut_w = int(32 * t), int(48 * t)
        expected = [
            np.clip(y - cut_h // 2, 0, 32), np.clip(y + cut_h // 2, 0, 32),
            np.clip(x - cut_w // 2, 0, 48), np.clip(x + cut_w // 2, 0, 48),
        ]
        assert box.tolist() == expected
