"""C-Mixup's partner law: partners drawn by the distance between labels.

C-Mixup (Yao et al., NeurIPS 2022) draws each anchor's partner with
probability `softmax_j(-||y_i - y_j||^2 / (2 h^2))` (gaussian kernel: the
official KernelDensity of one point, row-normalised) or uniformly among the
`j` with `||y_i - y_j|| < h` (tophat), the anchor itself included, as the
official `get_mixup_sample_rate`. The bandwidth `h` is in label units.
"""

import tensorflow as tf

from kmix.ops.validation import check_float
from kmix.ops.validation import check_one_of

KERNELS = ("gaussian", "tophat")


def _as_rows(labels, name):
    labels = tf.cast(tf.convert_to_tensor(labels), tf.float32)
    if labels.shape.rank not in (1, 2):
        raise ValueError(
            f"`{name}` must be regression targets of shape (N,) or (N, D). "
            f"Received: {name}.shape={tuple(labels.shape)}"
        )
    return labels[:, None] if labels.shape.rank == 1 else labels


def check_kernel(kernel):
    check_one_of(kernel, "kernel", KERNELS)
    return kernel


def standardize_labels(labels, reference=None):
    """`labels` divided per dimension by the standard deviation of `reference`.

    With standardised labels the bandwidth is in standard deviations instead of
    label units. A dimension with zero spread is left as it is.

    Args:
        labels: float `(N,)` or `(N, D)`.
        reference: the labels that set the scale (defaults to `labels`).
    """
    rows = _as_rows(labels, "labels")
    ref = rows if reference is None else _as_rows(reference, "reference")
    std = tf.math.reduce_std(ref, axis=0, keepdims=True)
    scaled = rows / tf.where(std > 0, std, tf.ones_like(std))
    return scaled[:, 0] if tf.convert_to_tensor(labels).shape.rank == 1 else scaled


def label_distance_logits(anchor_labels, candidate_labels, bandwidth, kernel="gaussian"):
    """Log partner weights `(A, C)` (unnormalised) of anchors over candidates.

    Args:
        anchor_labels: float `(A,)` or `(A, D)` regression targets.
        candidate_labels: float `(C,)` or `(C, D)`.
        bandwidth: float > 0, the kernel bandwidth `h` in label units.
        kernel: `"gaussian"` or `"tophat"`.

    Returns:
        float32 `(A, C)`: `-||y_i - y_j||^2 / (2 h^2)` (gaussian), or `0` where
        `||y_i - y_j|| < h` and `-inf` elsewhere (tophat).
    """
    bandwidth = check_float(bandwidth, "bandwidth", 0, min_inclusive=False)
    check_kernel(kernel)
    a = _as_rows(anchor_labels, "anchor_labels")
    c = _as_rows(candidate_labels, "candidate_labels")
    d2 = tf.reduce_sum(tf.square(a[:, None, :] - c[None, :, :]), axis=-1)
    if kernel == "gaussian":
        return -d2 / (2.0 * bandwidth * bandwidth)
    inside = d2 < bandwidth * bandwidth
    return tf.where(inside, tf.zeros_like(d2), tf.fill(tf.shape(d2), float("-inf")))


def c_mixup_probabilities(anchor_labels, candidate_labels=None, bandwidth=1.0, kernel="gaussian"):
    """C-Mixup's sampling matrix `P` `(A, C)`: row `i` is anchor `i`'s partner law.

    Args:
        anchor_labels: float `(A,)` or `(A, D)`.
        candidate_labels: float `(C,)` or `(C, D)`; defaults to the anchors (the
            official dataset-level matrix, self included).
        bandwidth: float > 0, in label units.
        kernel: `"gaussian"` or `"tophat"`.

    Returns:
        float32 `(A, C)` with rows summing to 1.

    Example:

    ```python
    import kmix

    p = kmix.ops.c_mixup_probabilities([0.0, 0.1, 3.0], bandwidth=0.5)
    print(p.numpy().argmax(axis=1).tolist())  # [0, 1, 2]
    ```
    """
    candidates = anchor_labels if candidate_labels is None else candidate_labels
    return tf.nn.softmax(label_distance_logits(anchor_labels, candidates, bandwidth, kernel), axis=-1)


def sample_c_mixup_partners(anchor_labels, candidate_labels, bandwidth, seed, kernel="gaussian"):
    """One partner per anchor, drawn from the candidates by C-Mixup's law.

    Stateless and static-shape (`tf.random.stateless_categorical` on the
    logits), so it runs in `tf.data` and under XLA.

    Args:
        anchor_labels: float `(A,)` or `(A, D)`.
        candidate_labels: float `(C,)` or `(C, D)`.
        bandwidth: float > 0, in label units.
        seed: int32 `(2,)` seed.
        kernel: `"gaussian"` or `"tophat"`.

    Returns:
        int32 `(A,)`: indices into the candidates.
    """
    logits = label_distance_logits(anchor_labels, candidate_labels, bandwidth, kernel)
    draws = tf.random.stateless_categorical(logits, 1, seed, dtype=tf.int32)
    return draws[:, 0]


__all__ = [
    "KERNELS",
    "c_mixup_probabilities",
    "label_distance_logits",
    "sample_c_mixup_partners",
    "standardize_labels",
]
