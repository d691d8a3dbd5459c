"""Mosaic: four images around a random centre (YOLOv4's recipe, as KerasCV's layer)."""


import keras
import tensorflow as tf

from kmix._compat import tensorflow_seed_generator
from kmix._export import kmix_export
from kmix.layers.mix_inputs import BOUNDING_BOXES
from kmix.layers.mix_inputs import MixInputs
from kmix.layers.mix_inputs import as_tensors
from kmix.layers.mix_inputs import call_with_tensorflow_ops
from kmix.layers.mix_inputs import unchanged
from kmix.ops.box_formats import check_box_format
from kmix.ops.box_formats import missing_box_format_error
from kmix.ops.boxes import check_bounding_boxes
from kmix.ops.boxes import mosaic_boxes
from kmix.ops.mixing import one_hot_labels
from kmix.ops.mosaic import mosaic_images
from kmix.ops.mosaic import mosaic_weights
from kmix.ops.mosaic import sample_mosaic
from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import check_data_format
from kmix.ops.validation import check_float
from kmix.ops.validation import check_label_smoothing
from kmix.ops.validation import check_num_classes
from kmix.ops.validation import check_seed
from kmix.ops.validation import is_real_scalar


@kmix_export("kmix.layers.Mosaic")
class Mosaic(keras.layers.Layer):
    """Four images meet at a random centre; labels weigh each by its area, boxes move with it.

    The recipe of YOLOv4 and Ultralytics, as KerasCV's `Mosaic` batches it:
    every row shows itself top-left and three rows drawn from the batch (with
    replacement) top-right, bottom-left and bottom-right, each cut where the
    four meet at a centre drawn uniformly in `offset` of the width and height.
    Images keep their size and no pixel is resampled: the centre is rounded to
    a whole pixel and every image is shifted, not resized (KerasCV crops with
    `crop_and_resize` and resamples slightly). Labels are each image's soft
    label weighted by the share of the output it covers, exactly its pixels.
    Boxes move with their image and are clipped to the part that shows; a
    box is kept when at least one of its pixels (and `min_visibility` of it)
    shows, as KerasCV and Ultralytics keep every box with area left.

    Mosaic draws four images per row, which no `kmix.MixPlan` (one partner)
    describes: it runs in `tf.data` (any Keras backend) or eagerly on a dict
    or `(images, labels)`, and gives its mixed labels directly. It refuses
    images alone, so labels are never left unmixed.

    Args:
        offset: `(lo, hi)` floats with `0 <= lo <= hi <= 1`: the range of the
            centre as a share of the width and of the height. Defaults to
            `(0.25, 0.75)` (KerasCV's default).
        num_classes: int or `None`. Needed when labels are class ids.
        label_smoothing: float in [0, 1). Defaults to `0.0`.
        bounding_box_format: optional str, one of Keras's box formats. Needed
            only when a dict brings `"bounding_boxes"`.
        min_visibility: float in [0, 1]: the share of a moved box that must
            show for it to be kept. Defaults to `0.0` (any box of which a
            pixel shows, as KerasCV and Ultralytics keep boxes with area).
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: base layer arguments (`name`, `dtype`).

    Call arguments:
        data: a dict with `"images"` `(B, H, W, C)` and at least one of
            `"labels"`, `"bounding_boxes"` (`{"boxes", "labels"}`, padded with
            -1 or ragged) and `"segmentation_masks"` (other keys pass
            through); or a tuple `(images, labels[, sample_weight])`.
        labels: labels as a second positional argument.
        training: bool. With `False` the input is returned unchanged.

    Returns:
        The same structure: mosaic images, float32 `(B, K)` labels, boxes
        `(B, 4N, 4)` / `(B, 4N)` (the four images' boxes in quadrant order; a
        box that does not show becomes a -1 row, or is removed when ragged),
        segmentation masks moved like the images.

    Example:

    ```python
    import numpy as np
    import kmix

    images = np.random.rand(8, 64, 64, 3).astype("float32")
    boxes = {"boxes": np.tile([[[8.0, 8.0, 40.0, 30.0]]], (8, 1, 1)),
             "labels": np.zeros((8, 1), "int32")}
    layer = kmix.layers.Mosaic(num_classes=10, bounding_box_format="xyxy", seed=0)
    out = layer({"images": images, "labels": np.arange(8), "bounding_boxes": boxes})
    print(out["images"].shape, out["labels"].shape)  # (8, 64, 64, 3) (8, 10)
    print(out["bounding_boxes"]["boxes"].shape)  # (8, 4, 4)
    ```

    References:
        - [Bochkovskiy et al., 2020](https://arxiv.org/abs/2004.10934) (YOLOv4)
        - [KerasCV `Mosaic`](https://github.com/keras-team/keras-cv)
    """

    def __init__(
        self,
        offset=(0.25, 0.75),
        num_classes=None,
        label_smoothing=0.0,
        bounding_box_format=None,
        min_visibility=0.0,
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            not isinstance(offset, (tuple, list))
            or len(offset) != 2
            or not all(is_real_scalar(v) for v in offset)
            or not 0.0 <= float(offset[0]) <= float(offset[1]) <= 1.0
        ):
            raise ValueError(
                "`offset` must be a pair (lo, hi) of floats with 0 <= lo <= hi <= 1. "
                f"Received: offset={offset!r}"
            )
        self.offset = (float(offset[0]), float(offset[1]))
        self.num_classes = check_num_classes(num_classes)
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.bounding_box_format = check_box_format(bounding_box_format, "Mosaic")
        self.min_visibility = check_float(min_visibility, "min_visibility", 0.0, 1.0)
        self.seed = check_seed(seed)
        data_format = data_format or keras.config.image_data_format()
        check_data_format(data_format)
        self.data_format = data_format
        self.generator = tensorflow_seed_generator(seed)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def sample(self, batch_size, height, width, seed=None):
        """Draws the four rows and the centre of every mosaic (`kmix.ops.mosaic.sample_mosaic`).

        Args:
            batch_size, height, width: ints or scalar tensors.
            seed: optional int or `(2,)` seed tensor; defaults to the layer's
                seed generator (which advances), so a layer built with the same
                seed draws what its call draws.

        Returns:
            `(order, centres)`: int32 `(B, 4)` rows (top-left, top-right,
            bottom-left, bottom-right) and int32 `(B, 2)` centres `(cy, cx)`.
        """
        seed = to_seed_tensor(self.generator if seed is None else seed)
        return sample_mosaic(batch_size, height, width, self.offset, seed)

    def _parse(self, data, labels=None, sample_weight=None):
        inputs = MixInputs.parse("Mosaic", data, labels, sample_weight, boxes=True)
        if inputs.form == "images" or (
            inputs.form == "dict"
            and inputs.labels is None
            and inputs.segmentation_masks is None
            and BOUNDING_BOXES not in inputs.data
        ):
            raise ValueError(
                "Mosaic mixes four images per row, so it needs what they carry: "
                "a dict with 'images' and at least one of 'labels', "
                "'bounding_boxes' and 'segmentation_masks', or a tuple "
                "(images, labels). Received: images alone"
            )
        if inputs.form == "dict" and BOUNDING_BOXES in inputs.data and self.bounding_box_format is None:
            raise missing_box_format_error("Mosaic", how="with their images")
        return inputs

    @tf.autograph.experimental.do_not_convert
    def __call__(self, data, *args, **kwargs):
        data, args = as_tensors(data, args)
        self._parse(data, *args[:2])  # before Keras's own checks of the arguments
        if keras.backend.backend() != "tensorflow":
            return call_with_tensorflow_ops(self, data, args, kwargs)
        return super().__call__(data, *args, **kwargs)

    def call(self, data, labels=None, sample_weight=None, training=True):
        inputs = self._parse(data, labels, sample_weight)
        deps = inputs.check(self.data_format)
        if not training:
            return unchanged(data, labels, sample_weight)
        if inputs.single:
            raise ValueError(
                "Mosaic combines rows of a batch: call it on a batch (B, H, W, C), "
                "e.g. after `dataset.batch(...)`. Received: one image"
            )
        images = inputs.images
        shape = tf.shape(images)
        axes = (2, 3) if self.data_format == "channels_first" else (1, 2)
        height = images.shape[axes[0]] or shape[axes[0]]
        width = images.shape[axes[1]] or shape[axes[1]]
        batch_size = shape[0]
        boxes = None
        if inputs.form == "dict" and BOUNDING_BOXES in inputs.data:
            boxes = check_bounding_boxes(inputs.data[BOUNDING_BOXES], images.shape[0], "Mosaic")
        soft_labels = None
        if inputs.labels is not None:
            soft_labels = one_hot_labels(inputs.labels, self.num_classes, self.label_smoothing)
        with tf.control_dependencies(deps):
            images = tf.identity(images)
        order, centres = self.sample(batch_size, height, width)
        mixed = tf.cast(mosaic_images(images, order, centres, self.data_format), self.compute_dtype)
        mixed_labels = None
        if soft_labels is not None:
            weights = mosaic_weights(centres, height, width)
            mixed_labels = tf.einsum("bq,bqk->bk", weights, tf.gather(soft_labels, order))
        mixed_masks = None
        if inputs.segmentation_masks is not None:
            masks = inputs.segmentation_masks
            mixed_masks = mosaic_images(masks, order, centres, self.data_format)
        mixed_boxes = None
        if boxes is not None:
            mixed_boxes = mosaic_boxes(
                boxes, order, centres, self.bounding_box_format, (height, width), self.min_visibility
            )
        return inputs.pack(mixed, mixed_labels, mixed_masks, mixed_boxes)

    def compute_output_spec(self, data, labels=None, sample_weight=None, training=True):
        raise ValueError(
            "Mosaic runs on a dict or (images, labels) in tf.data or eagerly, "
            "not inside a functional or Sequential model (it needs the labels)."
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "offset": self.offset,
                "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing,
                "bounding_box_format": self.bounding_box_format,
                "min_visibility": self.min_visibility,
                "seed": self.seed,
                "data_format": self.data_format,
            }
        )
        return config
