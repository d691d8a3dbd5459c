"""RandomMixChoice."""

import math

import keras
import numpy as np
import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.box_formats import missing_box_format_error
from kmix.ops.boxes import dense_boxes
from kmix.ops.boxes import restore_form
from kmix.ops.seeds import split_seed
from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import check_probability
from kmix.ops.validation import is_real_scalar
from kmix.ops.validation import check_one_of

CHOICE_SCOPES = ("batch", "sample")


def in_graph_member(mixer):
    """Whether a member mixes inside a model's train step (it needs the model or hidden states)."""
    return bool(getattr(mixer, "needs_model", False) or getattr(mixer, "mixes_hidden_states", False))


def _has_own_partner_view(mixer):
    return type(mixer).partner_images is not BaseMixLayer.partner_images


def _resolve_from_members(mixers, name, own, default):
    """The container's `num_classes` / `label_smoothing`, given its members' values.

    The container encodes the labels of every row, so a member's own value is
    never used directly: it is taken over when the container sets none and the
    members that set one agree, and refused when it would be ignored.
    """
    members = [
        (m, getattr(m, name)) for m in mixers if getattr(m, name) != default
    ]
    if own != default:
        for m, value in members:
            if value != own:
                raise ValueError(
                    f"RandomMixChoice has {name}={own} but its member "
                    f"'{m.name}' ({type(m).__name__}) has {name}={value}: the "
                    "container encodes the labels of every row, so the member's "
                    f"value would be silently ignored. Set `{name}` once (on "
                    "RandomMixChoice) or give both the same value."
                )
        return own
    values = sorted({value for _, value in members})
    if len(values) > 1:
        listed = ", ".join(
            f"'{m.name}' ({type(m).__name__}) {name}={value}" for m, value in members
        )
        raise ValueError(
            f"The members of RandomMixChoice disagree on `{name}`: {listed}. "
            "The container encodes the labels of every row with one value: pass "
            f"`{name}` to RandomMixChoice (and leave it unset on the members), or "
            "give every member the same value."
        )
    return values[0] if values else default


@kmix_export("kmix.layers.RandomMixChoice")
class RandomMixChoice(BaseMixLayer):
    """Chooses one mixer per batch or per row, with a probability of not mixing.

    Generalises timm's `switch_prob` (MixUp or CutMix) and `prob` (mix at all)
    to any number of kmix mixers with any weights. All rows share one partner
    index (drawn with this layer's `partner`); each member contributes only its
    mask (and, for ResizeMix, its partner view), so the result is still a
    single `MixPlan` whose `lam` is measured from the combined mask. A member
    that draws from the images (`needs_images`, e.g. `AttentiveMix` with its
    teacher) gives its whole plan: its rows take its mask and its partners.

    With `choice_scope="sample"` the choice is made per row (timm's `elem`
    mode, vectorised); with `"batch"` one mixer serves the whole batch (timm's
    default). `no_mix_probability` leaves a batch (or a row) unmixed, with
    labels still one-hot encoded and smoothed as for mixed rows.

    **In-graph members.** SnapMix, AlignMix, ManifoldMixup and
    `GuidedMixup(saliency="gradient")` mix inside a model's train step (they
    need the model's maps, gradients or hidden states). A container holding
    one runs only as the `mixer` of `kmix.models.MixingModel` (or a model on
    `kmix.models.MixingMixin`), with `choice_scope="batch"`: each step draws
    one member (the same on every replica, each replica mixing its own batch)
    and runs that member's own step (an in-graph member keeps its own partner;
    input members take this layer's; they take this layer's `num_classes` and
    `label_smoothing`). The loss then receives every row's final
    soft targets (SnapMix's CAM-weighted labels are not a plan's `lam`), so a
    loss that needs the plan itself (DecoupledMixupLoss, RankMixupLoss,
    LUMixLoss) is refused. Called anywhere else (a `tf.data` map, a layer in a
    model) such a container raises. SMMix (its own loss) and TokenMix with a
    teacher (its labels from the teacher) are refused as members.

    **Detection boxes.** When every member moves boxes (`MixUp`, `CutMix`,
    `FMix`, `ResizeMix`, `MaskMix`, each box-moving member given its
    `bounding_box_format`), a dict's `"bounding_boxes"` are moved row by row
    by the member that mixed the row (its `min_visibility`); an unmixed row
    keeps its own boxes and gains none. Boxes come back `(B, 2N, 4)` (ragged
    stays ragged).

    Members keep their own `alpha`, `lam_scope` and method arguments; their
    `partner` and `seed` are not used (this layer's apply), and they take this
    layer's `data_format`. Members may not be `RandomMixChoice` layers
    themselves. This layer encodes the labels of every row: when it is given
    no `num_classes` (resp. `label_smoothing`), it takes the value its members
    set, if they agree; members that set different values, or a value other
    than this layer's own, raise a `ValueError` (never silently ignored).

    Args:
        mixers: list of kmix mixing layers, e.g. `[MixUp(0.8), CutMix(1.0)]`.
        weights: optional list of non-negative floats, one per mixer; the
            relative chance of each mixer when mixing. Defaults to equal weights.
        choice_scope: `"batch"` or `"sample"`. Defaults to `"batch"`.
        no_mix_probability: float in [0, 1]. Chance that a batch (or row) is left
            unmixed. timm's `prob` is `1 - no_mix_probability`. Defaults to `0.0`.
        alpha: `None`. Accepted for a uniform signature; each member keeps its
            own `alpha`.
        num_classes: int or `None`. Needed when labels are class ids;
            defaults to the value the members agree on.
        label_smoothing: float in [0, 1). Defaults to the value the members
            agree on (else `0.0`).
        partner: `"permute"` (random derangement), `"flip"` or `"roll"`.
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    import numpy as np
    import kmix

    # The DeiT recipe: MixUp(0.8) or CutMix(1.0) with equal chance, per batch.
    mixer = kmix.layers.RandomMixChoice(
        [kmix.layers.MixUp(alpha=0.8), kmix.layers.CutMix(alpha=1.0)],
        num_classes=10, label_smoothing=0.1, seed=0)
    images = np.random.rand(8, 32, 32, 3).astype("float32")
    mixed_images, mixed_labels = mixer(images, np.arange(8))
    print(mixed_labels.shape)  # (8, 10)
    ```
    """

    _alpha_required = False

    def __init__(
        self,
        mixers,
        weights=None,
        choice_scope="batch",
        no_mix_probability=0.0,
        alpha=None,
        **kwargs,
    ):
        if alpha is not None:
            raise ValueError(
                "`alpha` of RandomMixChoice must be None: each mixer keeps its own "
                f"alpha. Received: alpha={alpha!r}"
            )
        if mixers is not None and not isinstance(mixers, (list, tuple)):
            raise TypeError(
                "`mixers` must be a list of kmix mixing layers, e.g. "
                "`[kmix.layers.MixUp(), kmix.layers.CutMix()]` (a single layer "
                "needs no RandomMixChoice). Received: mixers of type "
                f"{type(mixers).__name__}"
            )
        mixers = [
            keras.saving.deserialize_keras_object(m) if isinstance(m, dict) else m
            for m in (mixers or [])
        ]
        if "lam_scope" in kwargs:
            raise TypeError(
                "RandomMixChoice has no `lam_scope`: each mixer keeps its own, and "
                "`choice_scope` sets how often a mixer is chosen. Received: "
                f"lam_scope={kwargs['lam_scope']!r}"
            )
        super().__init__(alpha=None, **kwargs)
        if not mixers:
            raise ValueError(
                "`mixers` must be a non-empty list of kmix mixing layers. "
                f"Received: mixers={mixers!r}"
            )
        check_one_of(choice_scope, "choice_scope", CHOICE_SCOPES)
        for m in mixers:
            if not isinstance(m, BaseMixLayer) or isinstance(m, RandomMixChoice):
                raise TypeError(
                    "`mixers` must hold kmix mixing layers (MixUp, CutMix, FMix, "
                    "ResizeMix, MaskMix, ...), not RandomMixChoice. Received an "
                    f"element of type {type(m).__name__}"
                )
            if in_graph_member(m) and m.needs_model and not m.choosable_in_graph:
                raise TypeError(
                    "RandomMixChoice draws among input mixers and among the "
                    "in-graph mixers that kmix.models.MixingModel can choose per "
                    f"batch (SnapMix, AlignMix, ManifoldMixup, GuidedMixup(saliency="
                    f"'gradient')); {type(m).__name__} needs the model being "
                    "trained and its own loss or teacher, so it runs only as the "
                    "mixer of a kmix.models.MixingModel. Received: a member of type "
                    f"{type(m).__name__}"
                )
            if m.labels_from_teacher:
                raise TypeError(
                    "RandomMixChoice draws among mixers whose labels a container "
                    f"can encode; {type(m).__name__} with a `teacher` takes its "
                    "labels from the teacher's maps, so it runs only as the mixer "
                    "of a kmix.models.MixingModel. Received: a member "
                    f"{type(m).__name__} with teacher={type(m.teacher).__name__}"
                )
            if in_graph_member(m) and choice_scope != "batch":
                raise ValueError(
                    "RandomMixChoice chooses an in-graph member "
                    f"({type(m).__name__}: it mixes inside the model's train step) "
                    "once per batch: a row-wise choice would run the model's "
                    "step of every member on every batch. Use "
                    "choice_scope=\"batch\". Received: "
                    f"choice_scope={choice_scope!r}"
                )
        if weights is None:
            weights = [1.0] * len(mixers)
        if not isinstance(weights, (list, tuple, np.ndarray)) or not all(
            is_real_scalar(w) for w in weights
        ):
            raise TypeError(
                "`weights` must be None or a list of non-negative floats, one per "
                f"mixer. Received: weights={weights!r}"
            )
        weights = [float(w) for w in weights]
        if (
            len(weights) != len(mixers)
            or not all(math.isfinite(w) for w in weights)
            or min(weights) < 0
            or sum(weights) <= 0
        ):
            raise ValueError(
                "`weights` must be one non-negative float per mixer with a "
                "positive sum, every weight finite. Received: "
                f"weights={weights} for {len(mixers)} mixers"
            )
        no_mix_probability = check_probability(no_mix_probability, "no_mix_probability")
        for mixer in mixers:
            # Members apply inside this layer, on its images' layout.
            mixer.data_format = self.data_format
        # get_config keeps what was passed; the layer uses the resolved values.
        self._given_num_classes = self.num_classes
        self._given_label_smoothing = self.label_smoothing
        self.num_classes = _resolve_from_members(
            mixers, "num_classes", self.num_classes, default=None
        )
        self.label_smoothing = _resolve_from_members(
            mixers, "label_smoothing", self.label_smoothing, default=0.0
        )
        for mixer in mixers:
            if in_graph_member(mixer):
                # An in-graph member runs its own step (SnapMix weighs the labels
                # itself, gradient GuidedMixup takes the clean loss): with this
                # layer's label encoding. Only unset values are filled in (set
                # ones agree, checked above).
                mixer.num_classes = self.num_classes
                mixer.label_smoothing = self.label_smoothing
        self.mixers = mixers
        self.mixer_weights = weights
        self.choice_scope = choice_scope
        self.no_mix_probability = no_mix_probability
        self.binary_mask = all(m.binary_mask for m in mixers)

    def _choice_probabilities(self):
        total = sum(self.mixer_weights)
        mix = 1.0 - self.no_mix_probability
        return [mix * w / total for w in self.mixer_weights] + [self.no_mix_probability]

    def check_image_size(self, height, width):
        for mixer in self.mixers:
            mixer.check_image_size(height, width)

    @property
    def mixes_in_graph(self):
        """Whether a member mixes inside a model's train step (SnapMix, AlignMix, ...).

        Such a container runs only as the `mixer` of `kmix.models.MixingModel`
        (or a model on `kmix.models.MixingMixin`), whose train step chooses one
        member per batch and runs that member's own step.
        """
        return any(in_graph_member(m) for m in self.mixers)

    def sample_choice(self, count, seed):
        """Draws `count` member indices, `len(mixers)` meaning "not mixed".

        Args:
            count: int or int32 scalar, the number of draws.
            seed: int32 `(2,)` seed.

        Returns:
            int32 `(count,)`, member `k` with probability
            `(1 - no_mix_probability) * weights[k] / sum(weights)`.
        """
        u = tf.random.stateless_uniform(tf.reshape(count, [1]), to_seed_tensor(seed))
        edges = tf.constant(np.cumsum(self._choice_probabilities())[:-1], tf.float32)
        return tf.reduce_sum(tf.cast(u[:, None] >= edges[None, :], tf.int32), axis=1)

    def member_plan(self, k, images, seed=None, labels=None):
        """The plan of member `k` alone for a batch, with this layer's partner.

        What the rows that choose member `k` take (its mask, and its partners
        for a member that draws from the images), with `choice` set to `k` in
        every row; `mix_images` applies it. In-graph members have no plan of
        their own outside a train step.

        Args:
            k: int, the member's position in `mixers`.
            images: the batch `(B, H, W, C)` (channels-first per `data_format`).
            seed: optional int32 `(2,)` seed; defaults to the layer's generator.
            labels: optional labels (for a label-aware `partner`).
        """
        if not isinstance(k, int) or not 0 <= k < len(self.mixers):
            raise ValueError(
                f"`k` must be a member position, an int in [0, {len(self.mixers) - 1}]. "
                f"Received: k={k!r}"
            )
        if in_graph_member(self.mixers[k]):
            raise ValueError(
                f"Member {k} ({type(self.mixers[k]).__name__}) mixes inside a "
                "model's train step and has no plan of its own: only "
                "kmix.models.MixingModel runs it. Received: k="
                f"{k}"
            )
        images = self.check_inputs(images)
        batch_size, height, width = self.image_dims(images)
        return self._sample(batch_size, height, width, seed, labels=labels, images=images, only=k)

    def _sample(self, batch_size, height, width, seed=None, labels=None, images=None, only=None):
        if only is None and self.mixes_in_graph:
            names = ", ".join(type(m).__name__ for m in self.mixers if in_graph_member(m))
            raise ValueError(
                f"RandomMixChoice holding {names} chooses among mixers that mix "
                "inside a model's train step: give it as the `mixer` of "
                "kmix.models.MixingModel (its step chooses one member per batch). "
                "Received: a call outside that step (a tf.data map, a layer in a "
                "model, or sample_plan)"
            )
        seed = to_seed_tensor(self.generator if seed is None else seed)
        seeds = split_seed(seed, 2 + len(self.mixers))
        index = self._partner_index(batch_size, seeds[0], labels)

        if only is not None:
            choice = tf.fill(tf.reshape(batch_size, [1]), only)
        elif self.choice_scope == "batch":
            choice = tf.repeat(self.sample_choice(1, seeds[1]), batch_size)
        else:
            choice = self.sample_choice(batch_size, seeds[1])

        # Each member contributes its mask through the public contract (its
        # other plan fields are not needed: the combined mask defines the plan).
        # A member that draws from the images (AttentiveMix) gives its whole
        # plan: its rows take its mask and its partners.
        masks, member_index = [], []
        for k, (m, s) in enumerate(zip(self.mixers, seeds[2:])):
            if only is not None and k != only:
                continue
            if m.needs_images:
                if images is None:
                    raise ValueError(
                        f"RandomMixChoice's member {type(m).__name__} draws its plan "
                        "from the images: call the layer on the images or use "
                        "`sample_plan(images)`. Received: no images (sample_mask)"
                    )
                member_plan = m.sample_plan(images, seed=s, labels=labels)
                masks.append((k, member_plan.mask))
                member_index.append(member_plan.index)
                continue
            out = m.sample_mask(batch_size, height, width, s)
            masks.append((k, out[0] if isinstance(out, tuple) else out))
            member_index.append(None)
        spatial = any(mask.shape[1] != 1 or mask.shape[2] != 1 for _, mask in masks)
        target = tf.stack([batch_size, height, width, 1]) if spatial else None
        mask = tf.ones(target if spatial else tf.stack([batch_size, 1, 1, 1]), tf.float32)
        for (k, member_mask), own_index in zip(masks, member_index):
            if spatial:
                member_mask = tf.broadcast_to(member_mask, target)
            chosen = tf.reshape(choice == k, [-1, 1, 1, 1])
            mask = tf.where(chosen, tf.cast(member_mask, tf.float32), mask)
            if own_index is not None:
                index = tf.where(choice == k, tf.cast(own_index, index.dtype), index)
        return self._finalize_plan(index, mask, batch_size, choice=choice)

    def _sample_from_images(self, images, batch_size, height, width, seed=None, labels=None):
        # Members that read the images get them.
        return self._sample(batch_size, height, width, seed, labels=labels, images=images)

    def _extra_inputs(self, inputs, height, width):
        return inputs.images if any(m.needs_images for m in self.mixers) else None

    def _sample_for_call(self, batch_size, height, width, extra, labels=None):
        return self._sample(batch_size, height, width, labels=labels, images=extra)

    def sample_mask(self, batch_size, height, width, seed):
        """The combined mask of the members (see `sample_plan` for the whole plan)."""
        plan = self._sample(batch_size, height, width, seed)
        return plan.mask, {"choice": plan.choice}

    def row_mixers(self, plan):
        """The members and the per-row choice (`len(mixers)`: not mixed)."""
        if plan.choice is None:
            raise ValueError(
                "RandomMixChoice needs the plan's per-row `choice` to tell which "
                "member mixed each row: use a plan from its `sample_plan`. "
                "Received: a plan with choice=None"
            )
        return list(self.mixers), plan.choice

    def partner_images(self, images, plan, nearest=False):
        custom = [
            (k, m) for k, m in enumerate(self.mixers)
            # In-graph members never own rows of this layer's plans.
            if _has_own_partner_view(m) and not in_graph_member(m)
        ]
        if not custom:
            return None
        if plan.choice is None:
            raise ValueError(
                "RandomMixChoice holding "
                + ", ".join(type(m).__name__ for _, m in custom)
                + " needs the per-row choice to apply a plan: the plan's "
                "`choice` field, which plans from its `sample_plan` carry. "
                "Received: a plan with choice=None"
            )
        partner = tf.gather(images, plan.index)
        shape = [-1] + [1] * (images.shape.rank - 1)
        for k, m in custom:
            view = m.partner_images(images, plan, nearest=nearest)
            partner = tf.where(tf.reshape(plan.choice == k, shape), view, partner)
        return partner

    @property
    def mixes_bounding_boxes(self):
        """Whether every member moves detection boxes (then this layer does, row by row)."""
        return all(m.mixes_bounding_boxes for m in self.mixers)

    def _check_box_arguments(self):
        for m in self.mixers:
            if getattr(m, "min_visibility", None) is not None and m.bounding_box_format is None:
                raise missing_box_format_error(
                    f"RandomMixChoice's member {type(m).__name__}", to="that member"
                )

    def mix_bounding_boxes(self, bounding_boxes, plan, image_size=None):
        """Every row's boxes as the member that mixed it moves them (see the class docstring).

        Each member moves the boxes of the whole batch on this plan (its rows
        carry its mask); the rows it mixed take its result. `(B, N, 4)` boxes
        become `(B, 2N, 4)`; an unmixed row keeps its own boxes then -1 rows.
        """
        mixers, choice = self.row_mixers(plan)
        boxes, labels, _, ragged, out_dtype = dense_boxes(bounding_boxes)
        dense = {"boxes": boxes, "labels": labels}
        out_boxes = tf.concat([tf.cast(boxes, out_dtype), tf.fill(tf.shape(boxes), tf.cast(-1, out_dtype))], axis=1)
        out_labels = tf.concat([labels, tf.fill(tf.shape(labels), tf.cast(-1, labels.dtype))], axis=1)
        for k, m in enumerate(mixers):
            moved = m.mix_bounding_boxes(dense, plan, image_size=image_size)
            rows = tf.equal(choice, k)
            out_boxes = tf.where(rows[:, None, None], tf.cast(moved["boxes"], out_dtype), out_boxes)
            out_labels = tf.where(rows[:, None], moved["labels"], out_labels)
        return restore_form(out_boxes, out_labels, ragged)

    def get_config(self):
        config = super().get_config()
        config.pop("lam_scope", None)
        config["num_classes"] = self._given_num_classes
        config["label_smoothing"] = self._given_label_smoothing
        config.update(
            {
                "mixers": [keras.saving.serialize_keras_object(m) for m in self.mixers],
                "weights": self.mixer_weights,
                "choice_scope": self.choice_scope,
                "no_mix_probability": self.no_mix_probability,
            }
        )
        return config
