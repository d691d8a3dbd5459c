"""AlignMix's optimal transport: the official log-domain Sinkhorn, and the aligned feature mix."""

import tensorflow as tf

from kmix.ops.validation import _shape_str
from kmix.ops.validation import check_float
from kmix.ops.validation import check_int
from kmix.ops.validation import check_positive
from kmix.ops.validation import is_integer_scalar
from kmix.ops.validation import check_data_format

ALIGN_DIRECTIONS = (0, 1)


def _check_points(values, name):
    values = tf.convert_to_tensor(values)
    if values.shape.rank != 3:
        raise ValueError(
            f"`{name}` must be point sets of rank 3 (B, N, D). "
            f"Received: {name}.shape={_shape_str(values)}"
        )
    return values


def sinkhorn_plan(x, y, eps=0.1, max_iter=100, threshold=0.1, return_iterations=False):
    """Entropic optimal transport plan between two point sets per row (AlignMix's Sinkhorn).

    The official `SinkhornDistance` of AlignMixup (CVPR 2022), batched and in
    the log domain: cost `C[i, j] = sum_d (x[i, d] - y[j, d]) ** 2`, uniform
    marginals `mu = 1 / N`, `nu = 1 / M`, and, from `u = v = 0`, the updates

        u <- eps * (log(mu + 1e-8) - logsumexp_j(M(u, v))) + u
        v <- eps * (log(nu + 1e-8) - logsumexp_i(M(u, v))) + v,
        M(u, v)[i, j] = (-C[i, j] + u[i] + v[j]) / eps,

    and the plan `exp(M(u, v))`. As the official loop, it stops after the
    iteration in which the batch mean of `sum_i |u[i] - u_previous[i]|` falls
    below `threshold` (one decision for the whole batch), else after
    `max_iter` iterations. Here the loop always runs `max_iter` iterations
    (a `tf.while_loop` with a fixed count: static shapes, XLA) and its updates
    freeze once the official stopping test has held, so the result is the
    official one.

    Computed in float32 whatever the input dtype. The cost is formed as the
    official code does, from the `(B, N, M, D)` differences (exact, also for a
    row paired with itself; XLA fuses them into the reduction, a plain graph
    holds them, as PyTorch does in the official code). `align_mix` treats the
    plan as a constant (`tf.stop_gradient`), as the official `.detach()`.

    Args:
        x: float `(B, N, D)`: N points of dimension D per row.
        y: float `(B, M, D)`.
        eps: float > 0, the entropic regularisation. Defaults to `0.1`.
        max_iter: int >= 1, the most iterations. Defaults to `100`.
        threshold: float >= 0, the official stopping threshold. Defaults to `0.1`.
        return_iterations: bool. Also return the number of iterations the
            official loop would have run.

    Returns:
        float32 `(B, N, M)`: the plan, whose columns sum to `1 / M` (its rows
        to about `1 / N`, exactly once converged). With `return_iterations`, a tuple
        `(plan, iterations)`, `iterations` an int32 scalar.

    Example:

    ```python
    import tensorflow as tf
    import kmix

    x = tf.constant([[[0.0], [1.0]]])  # one row, two points on a line
    y = tf.constant([[[1.0], [0.0]]])  # the same points, swapped
    plan = kmix.ops.sinkhorn_plan(x, y)
    print(plan.numpy().round(3).tolist())  # [[[0.0, 0.5], [0.5, 0.0]]]
    ```
    """
    x = _check_points(x, "x")
    y = _check_points(y, "y")
    if x.shape[0] is not None and y.shape[0] is not None and x.shape[0] != y.shape[0]:
        raise ValueError(
            "`x` and `y` must have the same batch size. "
            f"Received: x.shape={_shape_str(x)} and y.shape={_shape_str(y)}"
        )
    if x.shape[-1] is not None and y.shape[-1] is not None and x.shape[-1] != y.shape[-1]:
        raise ValueError(
            "`x` and `y` must have points of the same dimension D. "
            f"Received: x.shape={_shape_str(x)} and y.shape={_shape_str(y)}"
        )
    eps = check_positive(eps, "eps")
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    threshold = check_float(threshold, "threshold", 0)
    x = tf.cast(x, tf.float32)
    y = tf.cast(y, tf.float32)
    cost = tf.reduce_sum(tf.square(x[:, :, None, :] - y[:, None, :, :]), axis=-1)

    def log_marginal(points):
        count = points.shape[1]
        share = 1.0 / count if count is not None else 1.0 / tf.cast(tf.shape(points)[1], tf.float32)
        return tf.math.log(tf.cast(share, tf.float32) + 1e-8)

    log_mu, log_nu = log_marginal(x), log_marginal(y)

    def modified_cost(u, v):
        return (-cost + u[:, :, None] + v[:, None, :]) / eps

    def body(step, u, v, done, iterations):
        u_next = eps * (log_mu - tf.reduce_logsumexp(modified_cost(u, v), axis=-1)) + u
        v_next = eps * (log_nu - tf.reduce_logsumexp(modified_cost(u_next, v), axis=-2)) + v
        error = tf.reduce_mean(tf.reduce_sum(tf.abs(u_next - u), axis=-1))
        # Once the official loop has stopped, nothing moves any more.
        u = tf.where(done, u, u_next)
        v = tf.where(done, v, v_next)
        iterations = iterations + tf.cast(tf.logical_not(done), tf.int32)
        done = tf.logical_or(done, error < threshold)
        return step + 1, u, v, done, iterations

    u0 = tf.zeros_like(cost[:, :, 0])
    v0 = tf.zeros_like(cost[:, 0, :])
    _, u, v, _, iterations = tf.while_loop(
        lambda step, *_: step < max_iter,
        body,
        (tf.constant(0), u0, v0, tf.constant(False), tf.constant(0)),
        maximum_iterations=max_iter,
    )
    plan = tf.exp(modified_cost(u, v))
    return (plan, iterations) if return_iterations else plan


def align_mix(features, partner_features, lam, direction, eps=0.1, max_iter=100,
              threshold=0.1, data_format="channels_last"):
    """AlignMix's mixed feature maps: the partner aligned to each row (or the row to it), then blended.

    With `F1` the feature maps of a row and `F2` its partner's, both as `HW`
    points of dimension `C`, and `P` the `sinkhorn_plan(F1, F2)` scaled by
    `HW` (the official assignment matrix, a constant for the gradient as the
    official `.detach()`):

    - `direction = 0`: `lam * F1 + (1 - lam) * P F2`, the partner moved onto
      the row's geometry (the official `align_mix == 0`);
    - `direction = 1`: `lam * P^T F1 + (1 - lam) * F2`, the row moved onto the
      partner's geometry (the official `align_mix == 1`).

    Equal to the official `mixup_aligned` given its draws. Static shapes,
    vectorised over the batch, XLA-compilable; `direction` may be a tensor.

    Args:
        features: float `(B, H, W, C)` (or `(B, C, H, W)` with
            `data_format="channels_first"`): the feature maps.
        partner_features: the partners' maps, same shape (`take(features, index)`).
        lam: float scalar or `(B,)`: the weight of each row's own map.
        direction: int scalar (or int32 scalar tensor), 0 or 1.
        eps, max_iter, threshold: the Sinkhorn's, see `sinkhorn_plan`.
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        The mixed maps, same shape and dtype as `features` (computed in float32).

    Example:

    ```python
    import tensorflow as tf
    import kmix

    features = tf.random.stateless_normal([2, 4, 4, 8], [1, 2])
    partner = tf.gather(features, [1, 0])
    mixed = kmix.ops.align_mix(features, partner, lam=0.7, direction=0)
    print(mixed.shape)  # (2, 4, 4, 8)
    ```
    """
    check_data_format(data_format)
    features = tf.convert_to_tensor(features)
    partner_features = tf.convert_to_tensor(partner_features)
    layout = "(B, C, H, W)" if data_format == "channels_first" else "(B, H, W, C)"
    if features.shape.rank != 4:
        raise ValueError(
            f"`features` must be feature maps of rank 4 {layout}. "
            f"Received: features.shape={_shape_str(features)}"
        )
    if not partner_features.shape.is_compatible_with(features.shape):
        raise ValueError(
            "`partner_features` must have the shape of `features`. Received: "
            f"features.shape={_shape_str(features)} and "
            f"partner_features.shape={_shape_str(partner_features)}"
        )
    if isinstance(direction, bool) or (
        is_integer_scalar(direction) and int(direction) not in ALIGN_DIRECTIONS
    ):
        raise ValueError(f"`direction` must be 0 or 1. Received: direction={direction!r}")
    eps = check_positive(eps, "eps")
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    threshold = check_float(threshold, "threshold", 0)
    out_dtype = features.dtype
    if data_format == "channels_first":
        features = tf.transpose(features, [0, 2, 3, 1])
        partner_features = tf.transpose(partner_features, [0, 2, 3, 1])
    shape = tf.shape(features)
    static = features.shape
    points = static[1] * static[2] if static[1] is not None and static[2] is not None else None
    count = points if points is not None else shape[1] * shape[2]
    flat = [-1, count, static[3] if static[3] is not None else shape[3]]
    own = tf.reshape(tf.cast(features, tf.float32), flat)
    partner = tf.reshape(tf.cast(partner_features, tf.float32), flat)
    plan = sinkhorn_plan(tf.stop_gradient(own), tf.stop_gradient(partner), eps, max_iter, threshold)
    plan = tf.stop_gradient(plan * tf.cast(count, tf.float32))
    lam = tf.cast(tf.reshape(lam, [-1, 1, 1]), tf.float32)
    # Official: f1 = feat2 @ P^T (C x HW layout), i.e. P @ F2 here; f2 = feat1 @ P, i.e. P^T @ F1.
    partner_aligned = lam * own + (1 - lam) * tf.matmul(plan, partner)
    own_aligned = lam * tf.matmul(plan, own, transpose_a=True) + (1 - lam) * partner
    mixed = tf.where(tf.equal(tf.cast(direction, tf.int32), 0), partner_aligned, own_aligned)
    mixed = tf.reshape(mixed, shape)
    if data_format == "channels_first":
        mixed = tf.transpose(mixed, [0, 3, 1, 2])
    return tf.cast(mixed, out_dtype)


__all__ = ["align_mix", "sinkhorn_plan"]
