"""RandomMixChoice."""

import math

import keras
import numpy as np
import tensorflow as tf

from kmix._export import kmix_export
from kmix.layers.base_mix_layer import BaseMixLayer
from kmix.ops.seeds import split_seed
from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import check_probability
from kmix.ops.validation import is_real_scalar
from kmix.ops.validation import check_one_of

CHOICE_SCOPES = ("batch", "sample")


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
        for m in mixers:
            if getattr(m, "needs_model", False):
                raise TypeError(
                    "RandomMixChoice draws among input mixers; "
                    f"{type(m).__name__} needs the model being trained (its plan "
                    "or labels come from the model's maps), so it runs only as "
                    "the mixer of a kmix.models.MixingModel. Received: a member "
                    f"of type {type(m).__name__}"
                )
            if getattr(m, "mixes_hidden_states", False):
                raise TypeError(
                    "RandomMixChoice draws among input mixers; "
                    f"{type(m).__name__} mixes hidden states inside a model's "
                    "train step and cannot be a member. Received: a member of "
                    f"type {type(m).__name__}"
                )
            if not isinstance(m, BaseMixLayer) or isinstance(m, RandomMixChoice):
                raise TypeError(
                    "`mixers` must hold kmix mixing layers (MixUp, CutMix, FMix, "
                    "ResizeMix, MaskMix, ...), not RandomMixChoice. Received an "
                    f"element of type {type(m).__name__}"
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
        check_one_of(choice_scope, "choice_scope", CHOICE_SCOPES)
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

    def _sample(self, batch_size, height, width, seed=None, labels=None, images=None):
        seed = to_seed_tensor(self.generator if seed is None else seed)
        seeds = split_seed(seed, 2 + len(self.mixers))
        index = self._partner_index(batch_size, seeds[0], labels)

        count = 1 if self.choice_scope == "batch" else batch_size
        u = tf.random.stateless_uniform(tf.reshape(count, [1]), seeds[1])
        edges = tf.constant(np.cumsum(self._choice_probabilities())[:-1], tf.float32)
        choice = tf.reduce_sum(tf.cast(u[:, None] >= edges[None, :], tf.int32), axis=1)
        if self.choice_scope == "batch":
            choice = tf.repeat(choice, batch_size)

        # Each member contributes its mask through the public contract (its
        # other plan fields are not needed: the combined mask defines the plan).
        # A member that draws from the images (AttentiveMix) gives its whole
        # plan: its rows take its mask and its partners.
        masks, member_index = [], []
        for m, s in zip(self.mixers, seeds[2:]):
            if m.needs_images:
                if images is None:
                    raise ValueError(
                        f"RandomMixChoice's member {type(m).__name__} draws its plan "
                        "from the images: call the layer on the images or use "
                        "`sample_plan(images)`. Received: no images (sample_mask)"
                    )
                member_plan = m.sample_plan(images, seed=s, labels=labels)
                masks.append(member_plan.mask)
                member_index.append(member_plan.index)
                continue
            out = m.sample_mask(batch_size, height, width, s)
            masks.append(out[0] if isinstance(out, tuple) else out)
            member_index.append(None)
        spatial = any(mask.shape[1] != 1 or mask.shape[2] != 1 for mask in masks)
        target = tf.stack([batch_size, height, width, 1]) if spatial else None
        mask = tf.ones(target if spatial else tf.stack([batch_size, 1, 1, 1]), tf.float32)
        for k, member_mask in enumerate(masks):
            if spatial:
                member_mask = tf.broadcast_to(member_mask, target)
            chosen = tf.reshape(choice == k, [-1, 1, 1, 1])
            mask = tf.where(chosen, tf.cast(member_mask, tf.float32), mask)
            if member_index[k] is not None:
                index = tf.where(choice == k, tf.cast(member_index[k], index.dtype), index)
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
            (k, m) for k, m in enumerate(self.mixers) if _has_own_partner_view(m)
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
