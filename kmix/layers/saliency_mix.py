"""SaliencyMix."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.fine_grained_saliency import PIXEL_FORMS
from kmix.ops.fine_grained_saliency import check_saliency_images
from kmix.ops.fine_grained_saliency import fine_grained_saliency
from kmix.ops.fine_grained_saliency import saliency_peak
from kmix.ops.masks import box_from_side_ratio
from kmix.ops.masks import box_mask
from kmix.ops.seeds import split_seed
from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import check_one_of

SALIENCY_SCOPES = ("batch", "sample")


@kmix_export("kmix.layers.SaliencyMix")
class SaliencyMix(BaseMixLayer):
    """Pastes a CutMix-size box of the partner, centred on its most salient pixel.

    SaliencyMix (Uddin et al., ICLR 2021), as its official code: `lam ~
    Beta(alpha, alpha)`, a box of side ratio `sqrt(1 - lam)` (CutMix's size,
    `floor(side * ratio)` per axis, clipped at the border) centred on the first
    maximum (row-major) of OpenCV's static fine-grained saliency map
    (`cv2.saliency.StaticSaliencyFineGrained`, Montabone & Soto 2010; the paper
    speaks of spectral-residual saliency, the code runs this detector) of ONE
    image, the partner of the first row; the same box for the whole batch. The
    label weight is the measured own share, which equals the official
    correction of `lam` from the clipped box. The saliency is
    `kmix.ops.fine_grained_saliency.fine_grained_saliency`, a TF restatement of
    the OpenCV detector, so the layer runs in `tf.data`, in a model and under
    XLA.

    **What the official detector sees.** The official code gives OpenCV the
    normalised float32 image; OpenCV then reads the raw bytes of the float gray
    image as its 8-bit pixels, so the official box centre follows float bytes
    rather than the image content (an upstream bug). kmix deliberately
    differs by default: `saliency_input="rescaled"` stretches each image from
    its own minimum and maximum to `[0, 255]` and runs the detector on those
    8-bit values, the input it is written for, whatever the images' range.
    `saliency_input="float32"` reproduces the official call exactly (the boxes
    equal the official ones given its draws); `"uint8"` rounds and clips the
    images as they are (give them in `[0, 255]`).

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration of `lam`. Defaults
            to `1.0` (the official CIFAR default `--beta 1`).
        saliency_scope: `"batch"` (the official code: one saliency map, of the
            first row's partner, one box centre for the batch) or `"sample"`
            (each row's box centred on its own partner's most salient pixel).
        saliency_input: `"rescaled"` (default), `"float32"` (the official
            call) or `"uint8"`; see above.
        num_classes, label_smoothing, lam_scope, partner, seed, data_format:
            as every kmix mixer (`lam_scope="sample"` draws a box size per row).
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    import numpy as np
    import kmix

    layer = kmix.layers.SaliencyMix(num_classes=10, seed=0)
    images, labels = layer(np.random.rand(8, 32, 32, 3), np.arange(8))
    print(images.shape, labels.shape)  # (8, 32, 32, 3) (8, 10)
    ```

    References:
        - [Uddin et al., 2021](https://arxiv.org/abs/2006.01791)
        - [official code `saliency_bbox`](https://github.com/afm-shahab-uddin/SaliencyMix)
    """

    needs_images = True

    def __init__(self, alpha=1.0, saliency_scope="batch", saliency_input="rescaled", **kwargs):
        check_one_of(saliency_scope, "saliency_scope", SALIENCY_SCOPES)
        check_one_of(saliency_input, "saliency_input", PIXEL_FORMS)
        super().__init__(alpha=alpha, **kwargs)
        self.saliency_scope = saliency_scope
        self.saliency_input = saliency_input

    def sample_mask(self, batch_size, height, width, seed):
        raise ValueError(
            "SaliencyMix centres its box on the partner's most salient pixel: call "
            "it on the images, or use `sample_plan(images)`. Received: no images"
        )

    def _channels_last(self, images):
        if self.data_format == "channels_first" and images.shape.rank == 4:
            images = tf.transpose(images, [0, 2, 3, 1])
        return check_saliency_images(images, self.saliency_input)

    def saliency_peaks(self, images):
        """Each image's most salient pixel, int32 `(B, 2)` `(row, column)`.

        Args:
            images: `(B, H, W, C)` (channels-first per `data_format`).
        """
        return self._peaks(self._channels_last(images))

    def _peaks(self, images):
        return saliency_peak(fine_grained_saliency(images, self.saliency_input))

    def boxes_for(self, images, index, lam):
        """The boxes `(B, 4)` `(y_low, y_high, x_low, x_high)` given the draws.

        Args:
            images: `(B, H, W, C)` (channels-first per `data_format`).
            index: int `(B,)` partner of each row.
            lam: float `(B,)` Beta draws (box side ratio `sqrt(1 - lam)`).
        """
        images = self._channels_last(images)
        height, width = images.shape[1], images.shape[2]
        if self.saliency_scope == "batch":
            peaks = self._peaks(tf.gather(images, index[:1]))
            peaks = tf.repeat(peaks, tf.shape(index)[0], axis=0)
        else:
            peaks = self._peaks(tf.gather(images, index))
        ratio = tf.sqrt(tf.maximum(1.0 - tf.cast(lam, tf.float32), 0.0))
        return box_from_side_ratio(ratio, peaks[:, 0], peaks[:, 1], height, width)

    def _sample_from_images(self, images, batch_size, height, width, seed=None, labels=None):
        seed = to_seed_tensor(self.generator if seed is None else seed)
        seed_index, seed_lam = split_seed(seed, 2)
        index = self._partner_index(batch_size, seed_index, labels)
        lam = self.sample_lam(batch_size, seed_lam)
        boxes = self.boxes_for(images, index, lam)
        # A batch of one is left unmixed (the base class sets its mask to 1).
        boxes = tf.where(batch_size < 2, tf.zeros_like(boxes), boxes)
        mask = box_mask(boxes, height, width)
        return self._finalize_plan(index, mask, batch_size, boxes=tf.cast(boxes, tf.int32))

    def check_image_size(self, height, width):
        if not (isinstance(height, int) and isinstance(width, int)) or height < 2 or width < 2:
            size = f"{height}x{width}" if isinstance(height, int) and isinstance(width, int) else "unknown"
            raise ValueError(
                "SaliencyMix needs images of static height and width >= 2 (its "
                f"saliency map). Received: images of size {size}"
            )

    def _extra_inputs(self, inputs, height, width):
        self._channels_last(inputs.images)  # checks the channels before any work
        return inputs.images

    def _sample_for_call(self, batch_size, height, width, extra, labels=None):
        return self._sample_from_images(extra, batch_size, height, width, labels=labels)

    def get_config(self):
        config = super().get_config()
        config.update({
            "saliency_scope": self.saliency_scope,
            "saliency_input": self.saliency_input,
        })
        return config
