"""kmix.ops.validation: the shared checks name the argument, the expected form and what was received."""

import numpy as np
import pytest
import tensorflow as tf

from kmix.ops.validation import check_float
from kmix.ops.validation import check_image_grid
from kmix.ops.validation import check_images
from kmix.ops.validation import check_int
from kmix.ops.validation import check_same_batch
from kmix.ops.validation import is_integer_scalar
from kmix.ops.validation import is_real_scalar


def test_scalar_predicates_take_numpy_numbers_and_refuse_bools():
    assert is_integer_scalar(3) and is_integer_scalar(np.int64(3)) and is_integer_scalar(np.uint8(3))
    assert not any(is_integer_scalar(v) for v in (True, np.bool_(False), 3.0, np.float32(3), "3", None))
    assert is_real_scalar(3) and is_real_scalar(0.5) and is_real_scalar(np.float32(0.5)) and is_real_scalar(np.int32(2))
    assert not any(is_real_scalar(v) for v in (True, np.bool_(True), "0.5", None, [0.5]))


def test_check_int_returns_python_ints():
    for value in (3, np.int32(3), np.int64(3)):
        out = check_int(value, "n", minimum=1, maximum=3)
        assert out == 3 and type(out) is int
    assert check_int(None, "n", minimum=1, allow_none=True) is None


@pytest.mark.parametrize(
    "value, kwargs, exc, match",
    [
        (True, {}, TypeError, r"^`n` must be an int\. Received: n=True$"),
        (2.0, dict(minimum=1), TypeError, r"^`n` must be an int >= 1\. Received: n=2\.0$"),
        ("3", {}, TypeError, r"^`n` must be an int\. Received: n='3'$"),
        (None, dict(minimum=1), TypeError, r"^`n` must be an int >= 1\. Received: n=None$"),
        (0, dict(minimum=1), ValueError, r"^`n` must be an int >= 1\. Received: n=0$"),
        (5, dict(minimum=1, maximum=4), ValueError, r"^`n` must be an int in \[1, 4\]\. Received: n=5$"),
        (np.int64(-2), dict(maximum=-3), ValueError, r"^`n` must be an int <= -3\. Received: n=-2$"),
        (0, dict(minimum=1, allow_none=True), ValueError, r"^`n` must be None or an int >= 1\. Received: n=0$"),
        (1.5, dict(minimum=1, allow_none=True), TypeError, r"^`n` must be None or an int >= 1\. Received: n=1\.5$"),
        (0, dict(minimum=1, expected="a positive int"), ValueError, r"^`n` must be a positive int\. Received: n=0$"),
        (1.5, dict(minimum=1, expected="an int >= 1", type_expected="None or an int >= 1"), TypeError,
         r"^`n` must be None or an int >= 1\. Received: n=1\.5$"),
    ],
)
def test_check_int_errors_name_the_argument_the_form_and_the_value(value, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        check_int(value, "n", **kwargs)


def test_check_float_returns_python_floats():
    for value, expected in ((1, 1.0), (0.25, 0.25), (np.float32(0.5), 0.5), (np.int64(1), 1.0)):
        out = check_float(value, "p", 0, 1)
        assert out == expected and type(out) is float
    assert check_float(None, "p", 0, 1, allow_none=True) is None
    assert check_float(0.0, "p", 0, 1) == 0.0 and check_float(1.0, "p", 0, 1) == 1.0  # inclusive by default


@pytest.mark.parametrize(
    "value, kwargs, exc, match",
    [
        (True, dict(minimum=0, min_inclusive=False), TypeError, r"^`x` must be a float > 0\. Received: x=True$"),
        ("0.5", {}, TypeError, r"^`x` must be a float\. Received: x='0\.5'$"),
        (float("nan"), dict(minimum=0, min_inclusive=False), ValueError,
         r"^`x` must be a finite float > 0\. Received: x=nan$"),
        (float("inf"), {}, ValueError, r"^`x` must be a finite float\. Received: x=inf$"),
        (np.float32("-inf"), dict(allow_none=True), ValueError, r"^`x` must be None or a finite float\. Received: x=-inf$"),
        (0, dict(minimum=0, min_inclusive=False), ValueError, r"^`x` must be a float > 0\. Received: x=0$"),
        (1.0, dict(minimum=0, maximum=1, max_inclusive=False), ValueError,
         r"^`x` must be a float in \[0, 1\)\. Received: x=1\.0$"),
        # NumPy numbers are shown as Python numbers.
        (np.float32(1.5), dict(minimum=0, maximum=1), ValueError, r"^`x` must be a float in \[0, 1\]\. Received: x=1\.5$"),
        (-1, dict(minimum=0, kind="number"), ValueError, r"^`x` must be a number >= 0\. Received: x=-1$"),
        (2.0, dict(maximum=1, max_inclusive=False), ValueError, r"^`x` must be a float < 1\. Received: x=2\.0$"),
    ],
)
def test_check_float_errors_name_the_argument_the_form_and_the_value(value, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        check_float(value, "x", **kwargs)


def test_check_image_grid_accepts_static_multiples():
    assert check_image_grid(16, 24, "TokenMix", patch_size=8) is None
    assert check_image_grid(7, 9, "FMix") is None  # no patch size: any static size


@pytest.mark.parametrize("height, width", [(tf.constant(16), 16), (16, None), (None, None)])
def test_check_image_grid_refuses_unknown_sizes(height, width):
    with pytest.raises(
        ValueError, match=r"^TokenMix needs the image height and width known statically\. Received: images of unknown size$"
    ):
        check_image_grid(height, width, "TokenMix", patch_size=4)


def test_check_image_grid_refuses_sides_that_are_not_multiples():
    with pytest.raises(
        ValueError,
        match=r"^The image height and width must be multiples of `patch_size`\. "
        r"Received: patch_size=8 and images of size 16x20$",
    ):
        check_image_grid(16, 20, "SMMix", patch_size=8)
    with pytest.raises(ValueError, match=r"^Sides must be multiples\. Received: patch_size=3 and images of size 10x9$"):
        check_image_grid(10, 9, "CutMix", patch_size=3, multiple_rule="Sides must be multiples")


def test_check_images_batches_a_single_image_and_refuses_other_ranks():
    images, single = check_images(np.zeros((8, 6, 3), np.float32))
    assert single and images.shape == (1, 8, 6, 3) and isinstance(images, tf.Tensor)
    images, single = check_images(np.zeros((2, 8, 6, 3), np.float32))
    assert not single and images.shape == (2, 8, 6, 3)
    with pytest.raises(
        ValueError,
        match=r"^`images` must have rank 4 \(B, H, W, C\) or rank 3 \(H, W, C\) for a single image\. "
        r"Received: images.shape=\(8, 6\)$",
    ):
        check_images(np.zeros((8, 6)))
    with pytest.raises(ValueError, match=r"^`x` must have rank 4 \(B, H, W, C\)\. Received: x.shape=\(8, 6, 3\)$"):
        check_images(np.zeros((8, 6, 3)), name="x", allow_single=False)
    with pytest.raises(TypeError, match=r"^`images` must be a tensor or array of shape \(B, H, W, C\)\. Received: images of type list$"):
        check_images([[0.0]])


def test_check_same_batch_names_both_shapes():
    images = tf.zeros([4, 8, 8, 3])
    assert check_same_batch(images, tf.zeros([4])) == []
    with pytest.raises(
        ValueError,
        match=r"^`images` and `masks` must have the same batch size\. "
        r"Received: images.shape=\(4, 8, 8, 3\) and masks.shape=\(3, 8, 8\)$",
    ):
        check_same_batch(images, tf.zeros([3, 8, 8]), ("images", "masks"))
