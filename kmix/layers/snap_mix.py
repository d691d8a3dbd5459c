"""SnapMix: a box of the partner, resized into the image's box; labels by class activation."""

import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.class_activation import box_activation_weights
from kmix.ops.class_activation import paste_boxes
from kmix.ops.masks import box_mask
from kmix.ops.masks import cutmix_boxes
from kmix.ops.mixing import one_hot_labels
from kmix.ops.sampling import sample_uniform
from kmix.ops.seeds import split_seed
from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_probability

CAMS = "cams"


def _check_layer_name(value, name):
    if value is not None and not isinstance(value, str):
        raise TypeError(
            f"`{name}` must be the name of a layer of the model (a str) or None. "
            f"Received: {name} of type {type(value).__name__}"
        )
    return value


@kmix_export("kmix.layers.SnapMix")
class SnapMix(BaseMixLayer):
    """Pastes a box of the partner, resized into a box of the image; labels by class activation.

    SnapMix (Huang et al., AAAI 2021), as the official `snapmix`: two boxes
    are drawn independently as CutMix boxes (side ratio `sqrt(1 - lam)`, two
    `lam ~ Beta(alpha, alpha)`, centres uniform, clipped at the border); the
    partner's second box is bilinearly resized (align corners) into the
    image's first box. The label weights come from class activation maps
    (CAMs) of the model being trained, on the clean batch:
    `lam_a = 1 - CAM_a(box) / CAM_a(total)` for the image's own class and
    `lam_b = CAM_b(box') / CAM_b(total)` for the partner's, and the targets
    are `lam_a * y_a + lam_b * y_b`.

    Faithful to the official code, including what may surprise:

    - `lam_a + lam_b` need not be 1 (the targets are not a distribution);
    - a row whose partner has the same class gets `lam_a + lam_b` for both,
      so that class weighs `2 * (lam_a + lam_b)` (the official adds the two
      weights on each other before the two loss terms add up again);
    - a NaN weight (a constant CAM, whose sum after subtracting its minimum is
      0) falls back to the box area, `1 - area / (H * W)` for `lam_a` and
      `area / (H * W)` for `lam_b`;
    - nothing is pasted (`lam_a = 1`, `lam_b = 0`) when either box is empty,
      and with probability `1 - probability` (the official `prob`).

    The plan's `lam` is the measured own-pixel share (`1 - area / (H * W)`),
    as for every mixer; the label weights are not in the plan, they need the
    CAMs (`label_weights`). The plan's `boxes` (int32 `(B, 4)`) is where each
    row receives the paste and its `source_boxes` the partner's pasted
    region, each `(y_low, y_high, x_low, x_high)` half-open.

    As a layer it cannot see the model: call it on a dict holding `"images"`,
    `"labels"` and `"cams"` `(B, H, W)`, each image's map of its own class
    (`kmix.ops.class_activation.class_activation_maps`). To train, give it to
    `kmix.models.MixingModel(inputs, outputs, mixer=kmix.layers.SnapMix(...))`:
    each train step then computes the CAMs of the model itself (see
    `feature_layer`). Where kmix differs from the official code: the partner
    is a random derangement by default (`partner="shuffle"` is the official
    `torch.randperm`, which may pair a row with itself); the CAM pass runs in
    inference mode (the official runs the model in its training mode, so
    BatchNorm uses batch statistics there); `lam_scope="sample"` draws boxes
    per row (official: one pair of boxes per batch, `lam_scope="batch"`).

    Args:
        alpha: float > 0. Beta(alpha, alpha) concentration of both box ratios.
            Defaults to `5.0`, the authors' value for SnapMix ("prob=1.,
            beta=5 in most of the experiments"; the command-line default of
            their `conf.py` is 1.0).
        probability: float in [0, 1]. Chance that a batch (a row with
            `lam_scope="sample"`) is mixed. Defaults to `1.0`.
        feature_layer: optional str, for `MixingModel`: the name of the
            rank-4 layer whose feature map `(B, h, w, C)` (channels first per
            `data_format`) is globally average-pooled into the classifier.
            `None`: the input of that pooling, found from the classifier.
        classifier_layer: optional str, for `MixingModel`: the name of the
            `keras.layers.Dense` classifier reading the pooled features.
            `None`: the model's last `Dense` whose input is a
            `GlobalAveragePooling2D` output.
        num_classes, label_smoothing, lam_scope, partner, seed, data_format:
            as every kmix mixer (classification labels only; smoothing applies
            to both one-hot labels before weighting).
        **kwargs: base layer arguments (`name`, `dtype`).

    Call arguments:
        data: a dict with `"images"` `(B, H, W, C)`, `"cams"` `(B, H, W)` and
            optional `"labels"`, `"segmentation_masks"` (other keys pass
            through).
        training: bool. With `False` the input is returned unchanged.

    Returns:
        The dict with mixed images and float32 `(B, K)` targets
        `lam_a * y_a + lam_b * y_b`.

    Example:

    ```python
    import numpy as np
    import kmix

    cams = np.full((8, 32, 32), 1 / 1024, "float32")  # uniform maps: weights = areas
    layer = kmix.layers.SnapMix(num_classes=10, seed=0)
    out = layer({"images": np.random.rand(8, 32, 32, 3), "labels": np.arange(8), "cams": cams})
    print(out["images"].shape, out["labels"].shape)  # (8, 32, 32, 3) (8, 10)
    ```

    References:
        - [Huang et al., 2021](https://arxiv.org/abs/2012.04846)
        - [Shaoli-Huang/SnapMix `utils/mixmethod.py`](https://github.com/Shaoli-Huang/SnapMix)
    """

    needs_model = True
    choosable_in_graph = True

    def __init__(self, alpha=5.0, probability=1.0, feature_layer=None, classifier_layer=None,
                 **kwargs):
        label_mode = kwargs.get("label_mode", "classification")
        if label_mode != "classification":
            raise ValueError(
                "SnapMix weighs class labels by class activation maps: it needs "
                f"label_mode='classification'. Received: label_mode={label_mode!r}"
            )
        probability = check_probability(probability, "probability")
        feature_layer = _check_layer_name(feature_layer, "feature_layer")
        classifier_layer = _check_layer_name(classifier_layer, "classifier_layer")
        super().__init__(alpha=alpha, **kwargs)
        self.probability = probability
        self.feature_layer = feature_layer
        self.classifier_layer = classifier_layer

    # ------------------------------------------------------------------
    # The plan
    # ------------------------------------------------------------------
    def sample_mask(self, batch_size, height, width, seed):
        seed_coin, seed_lam, seed_box, seed_source = split_seed(seed, 4)
        count = self._scope_size(batch_size)
        # The two Beta ratios in one draw (one sampler to compile under XLA).
        lams = tf.reshape(self._sample_ratios(2 * count, seed_lam), [2, -1])
        boxes = cutmix_boxes(lams[0], height, width, seed_box)
        source = cutmix_boxes(lams[1], height, width, seed_source)
        mixed = sample_uniform(tf.reshape(count, [1]), seed_coin) < self.probability
        area = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
        source_area = (source[:, 1] - source[:, 0]) * (source[:, 3] - source[:, 2])
        # The official pastes only when both boxes are non-empty.
        pasted = (mixed & (area > 0) & (source_area > 0))[:, None]
        boxes = tf.where(pasted, boxes, tf.zeros_like(boxes))
        source = tf.where(pasted, source, tf.zeros_like(source))
        both = self._broadcast_scope(tf.stack([boxes, source], axis=1), batch_size)
        # A batch of one is left unmixed (the base class sets its mask to 1).
        both = tf.where(batch_size < 2, tf.zeros_like(both), both)
        both = tf.cast(both, tf.int32)
        return box_mask(both[:, 0], height, width), {
            "boxes": both[:, 0], "source_boxes": both[:, 1]}

    def _plan_boxes(self, plan):
        for name in ("boxes", "source_boxes"):
            boxes = getattr(plan, name)
            if boxes is None or boxes.shape.rank != 2:
                raise ValueError(
                    "A SnapMix plan carries the pasted box of every row in `boxes` "
                    "and the partner's region in `source_boxes`, each int32 (B, 4) "
                    "(as SnapMix.sample_plan draws them). Received: "
                    f"{name}={'None' if boxes is None else 'of shape ' + _shape_str(boxes)}"
                )
        return tf.stack([plan.boxes, plan.source_boxes], axis=1)

    def partner_images(self, images, plan, nearest=False):
        boxes = self._plan_boxes(plan)
        channels_first = self.data_format == "channels_first" and images.shape.rank == 4
        x = tf.transpose(images, [0, 2, 3, 1]) if channels_first else images
        out = paste_boxes(x, plan.index, boxes[:, 0], boxes[:, 1], nearest=nearest)
        return tf.transpose(out, [0, 3, 1, 2]) if channels_first else out

    # ------------------------------------------------------------------
    # The labels
    # ------------------------------------------------------------------
    def label_weights(self, cams, plan, labels):
        """SnapMix's label weights of a plan, from each image's own-class CAM.

        Args:
            cams: float `(B, H, W)`: each image's class activation map of its
                own class (`kmix.ops.class_activation.class_activation_maps`).
            plan: a plan of this layer (`sample_plan`).
            labels: `(B, K)` one-hot (or soft) labels; the class of a row is
                its argmax.

        Returns:
            `(lam_a, lam_b)`: float32 `(B,)`, the weights of each row's own
            label and of its partner's (see the class docstring).
        """
        boxes = self._plan_boxes(plan)
        class_ids = tf.argmax(labels, axis=-1, output_type=tf.int32)
        same = tf.equal(class_ids, tf.gather(class_ids, plan.index))
        return box_activation_weights(cams, plan.index, boxes[:, 0], boxes[:, 1], same)

    def mixed_targets(self, cams, plan, labels):
        """The targets `lam_a * y_a + lam_b * y_b`, float32 `(B, K)`.

        Args:
            cams: float `(B, H, W)`, as `label_weights`.
            plan: a plan of this layer.
            labels: class ids `(B,)` (with `num_classes`) or one-hot `(B, K)`;
                `label_smoothing` applies to both one-hot labels first.
        """
        soft = one_hot_labels(labels, self.num_classes, self.label_smoothing)
        lam_a, lam_b = self.label_weights(cams, plan, soft)
        return lam_a[:, None] * soft + lam_b[:, None] * tf.gather(soft, plan.index)

    def _extra_inputs(self, inputs, height, width):
        cams = inputs.data.get(CAMS) if inputs.form == "dict" else None
        if cams is None:
            raise ValueError(
                "SnapMix weighs the labels by class activation maps of the model "
                "being trained: give it to the model, "
                "kmix.models.MixingModel(inputs, outputs, mixer=kmix.layers.SnapMix(...)), "
                "or call it on a dict with 'images', 'labels' and 'cams' (B, H, W). "
                f"Received: {'a dict without cams' if inputs.form == 'dict' else inputs.form + ' input'}"
            )
        cams = tf.convert_to_tensor(cams)
        if inputs.single and cams.shape.rank == 2:
            cams = cams[None]
        if (
            cams.shape.rank != 3
            or (isinstance(height, int) and cams.shape[1] not in (None, height))
            or (isinstance(width, int) and cams.shape[2] not in (None, width))
        ):
            raise ValueError(
                f"SnapMix's cams must be (B, H, W) = (B, {height}, {width}), one map "
                f"per image at the image size. Received: cams.shape={_shape_str(cams)}"
            )
        return tf.cast(cams, tf.float32)

    def _mix_labels(self, soft_labels, plan, extra):
        lam_a, lam_b = self.label_weights(extra, plan, soft_labels)
        return lam_a[:, None] * soft_labels + lam_b[:, None] * tf.gather(soft_labels, plan.index)

    def get_config(self):
        config = super().get_config()
        config.update({
            "probability": self.probability,
            "feature_layer": self.feature_layer,
            "classifier_layer": self.classifier_layer,
        })
        return config
