"""TokenMix's token-level masks: BEiT-style blocks or random tokens.

Its teacher-map targets are in `kmix.ops.teacher_targets`.

A token mask here is a float32 tensor `(S, Gh, Gw)` on the ViT token grid,
1 where the token is taken FROM THE PARTNER (TokenMix's `mask`), 0 where the
row keeps its own token. Layers turn it into kmix's own-pixel mask with
`grid_to_pixel_mask(1 - mask, patch_size, H, W)`.
"""

import math

import tensorflow as tf

from kmix.ops.seeds import to_seed_tensor
from kmix.ops.validation import check_int

MASK_TYPES = ("block", "random")


def tokenmix_token_counts(lam, num_tokens, minimum_tokens):
    """How many tokens TokenMix takes from the partner for an own-image ratio `lam`.

    The official rule: `min(N, floor((1 - lam) * N) + minimum_tokens)`. With
    TokenMix's fixed `lam = 0.5` and `N = 196`, `minimum_tokens = 14` this is 112.

    Args:
        lam: float tensor `(S,)`, the nominal share of the own image.
        num_tokens: int `N`.
        minimum_tokens: int >= 0.

    Returns:
        int32 tensor `(S,)`.

    Example:

    ```python
    from kmix.ops.token_masks import tokenmix_token_counts

    print(tokenmix_token_counts([0.5], 196, 14).numpy().tolist())  # [112]
    ```
    """
    num_tokens = check_int(num_tokens, "num_tokens", minimum=1)
    minimum_tokens = check_int(minimum_tokens, "minimum_tokens", minimum=0)
    lam = tf.cast(tf.convert_to_tensor(lam), tf.float32)
    # float64 on the host would match Python's int() exactly; float32 is used
    # for XLA portability, with a tiny guard against 0.5 * N rounding down.
    count = tf.cast(tf.floor((1.0 - lam) * float(num_tokens) + 1e-4), tf.int32)
    return tf.minimum(count + minimum_tokens, num_tokens)


def random_token_masks(counts, grid_height, grid_width, seed):
    """Exactly `counts[s]` uniformly random tokens per mask (TokenMix 'random').

    Args:
        counts: int tensor `(S,)`, tokens to take from the partner.
        grid_height, grid_width: ints, the token grid.
        seed: `(2,)` int seed tensor or an int.

    Returns:
        float32 tensor `(S, Gh, Gw)`, 1 = partner token.

    Example:

    ```python
    from kmix.ops.token_masks import random_token_masks

    masks = random_token_masks([3, 10], 4, 4, seed=0)
    print(masks.numpy().sum(axis=(1, 2)).tolist())  # [3.0, 10.0]
    ```
    """
    grid_height = check_int(grid_height, "grid_height", minimum=1)
    grid_width = check_int(grid_width, "grid_width", minimum=1)
    counts = tf.cast(tf.convert_to_tensor(counts), tf.int32)
    num = grid_height * grid_width
    noise = tf.random.stateless_uniform(
        tf.stack([tf.shape(counts)[0], num]), to_seed_tensor(seed)
    )
    rank = tf.argsort(tf.argsort(noise, axis=1, stable=True), axis=1, stable=True)
    masks = tf.cast(rank < counts[:, None], tf.float32)
    return tf.reshape(masks, tf.stack([-1, grid_height, grid_width]))


def _python_round(x):
    # Python's round() rounds halves to even; so does tf.round.
    return tf.round(x)


def block_mask_round(mask, counts, done, draws, min_num_patches=1, min_aspect=0.3):
    """One round of TokenMix's block masking, given the round's uniform draws.

    The deterministic core of `block_token_masks`: attempt `a` of mask `s` reads
    `draws[s, a]` = `(u_area, u_aspect, u_top, u_left)` in `[0, 1)`, as
    `area = min_num_patches + (r - min_num_patches) * u_area` (Python's
    `random.uniform`), `aspect = exp(log a + (log(1/a) - log a) * u_aspect)`,
    `top = floor(u_top * (Gh - h + 1))` (`random.randint(0, Gh - h)`) and
    likewise `left`; the first attempt that adds between 1 and `r` new tokens
    is painted. Fed the draws that Python's `random` makes, it reproduces the
    official masks exactly (tested on `tokenmix.json`).

    Args:
        mask: float32 `(S, Gh, Gw)`, 1 = already masked.
        counts: int32 `(S,)`, target counts.
        done: bool `(S,)`, masks that take no more rounds.
        draws: float32 `(S, A, 4)`.
        min_num_patches, min_aspect: as `block_token_masks`.

    Returns:
        `(mask, covered, done)` after the round.
    """
    grid_height, grid_width = mask.shape[1], mask.shape[2]
    max_attempts = draws.shape[1]
    log_lo, log_hi = math.log(min_aspect), math.log(1.0 / min_aspect)
    rows = tf.range(grid_height, dtype=tf.int32)
    cols = tf.range(grid_width, dtype=tf.int32)
    attempts = tf.range(max_attempts, dtype=tf.int32)
    covered = tf.cast(tf.reduce_sum(mask, axis=[1, 2]), tf.int32)
    remaining = tf.cast(counts - covered, tf.float32)[:, None]
    area = min_num_patches + (remaining - min_num_patches) * draws[..., 0]
    aspect = tf.exp(log_lo + (log_hi - log_lo) * draws[..., 1])
    h = tf.cast(_python_round(tf.sqrt(area * aspect)), tf.int32)
    w = tf.cast(_python_round(tf.sqrt(area / aspect)), tf.int32)
    fits = (h < grid_height) & (w < grid_width)
    h_ok = tf.clip_by_value(h, 0, grid_height - 1)
    w_ok = tf.clip_by_value(w, 0, grid_width - 1)
    # randint(0, G - h) inclusive.
    top = tf.minimum(
        tf.cast(tf.floor(draws[..., 2] * tf.cast(grid_height - h_ok + 1, tf.float32)), tf.int32),
        grid_height - h_ok,
    )
    left = tf.minimum(
        tf.cast(tf.floor(draws[..., 3] * tf.cast(grid_width - w_ok + 1, tf.float32)), tf.int32),
        grid_width - w_ok,
    )
    in_rows = (rows[None, None, :] >= top[..., None]) & (rows[None, None, :] < (top + h_ok)[..., None])
    in_cols = (cols[None, None, :] >= left[..., None]) & (cols[None, None, :] < (left + w_ok)[..., None])
    boxes = tf.cast(in_rows[..., :, None] & in_cols[..., None, :], tf.float32)
    new = tf.reduce_sum(boxes * (1.0 - mask[:, None]), axis=[2, 3])
    valid = fits & (new > 0.0) & (new <= remaining) & ~done[:, None]
    # The first valid attempt of the round is painted.
    first = tf.argmax(
        tf.cast(valid, tf.int32) * (max_attempts - attempts)[None, :], axis=1,
        output_type=tf.int32,
    )
    any_valid = tf.reduce_any(valid, axis=1)
    chosen = tf.gather(boxes, first, axis=1, batch_dims=1)
    chosen = chosen * tf.cast(any_valid, tf.float32)[:, None, None]
    mask = tf.reshape(tf.maximum(mask, chosen), tf.shape(mask))
    covered = tf.cast(tf.reduce_sum(mask, axis=[1, 2]), tf.int32)
    done = done | ~any_valid | (covered >= counts)
    return mask, covered, done


def block_token_masks(
    counts,
    grid_height,
    grid_width,
    seed,
    min_num_patches=1,
    min_aspect=0.3,
    max_attempts=10,
    max_rounds=None,
):
    """BEiT-style block masks grown until `counts[s]` tokens are covered (TokenMix 'block').

    The official rule (TokenMix's `generate_mask`, from BEiT's masking
    generator), vectorised over the `S` masks: in each round, with
    `r = count - covered`, up to `max_attempts` rectangles are proposed with
    area `~ U(min_num_patches, r)`, aspect ratio `exp(U(log a, -log a))`,
    `h = round(sqrt(area * aspect))`, `w = round(sqrt(area / aspect))` (both
    strictly below the grid sides) and a uniform top-left corner; the first one
    that adds between 1 and `r` new tokens is painted. Rounds repeat until the
    count is reached or a round adds nothing, so a mask can end a little short
    of `count` (the official behaviour).

    Every round draws all attempts of all masks at once (stateless draws from
    `seed` folded with the round number) inside a `tf.while_loop` that stops
    when every mask is done or after `max_rounds` rounds (default `Gh * Gw`,
    which can never cut a mask short: each round adds at least one token), so
    the op has static shapes and compiles under XLA. The random stream is not
    Python's `random`, so individual masks differ from the official ones; the
    distribution is the same, and one round given Python's draws
    (`block_mask_round`) rebuilds the official masks exactly.

    Args:
        counts: int tensor `(S,)`, target numbers of partner tokens.
        grid_height, grid_width: ints, the token grid.
        seed: `(2,)` int seed tensor or an int.
        min_num_patches: float, the smallest proposed area (official 1).
        min_aspect: float in (0, 1], the smallest aspect ratio (official 0.3).
        max_attempts: int, proposals per round (official 10).
        max_rounds: optional int bound on the rounds; `None` = `Gh * Gw`.

    Returns:
        float32 tensor `(S, Gh, Gw)`, 1 = partner token; every mask covers at
        most `counts[s]` tokens.

    Example:

    ```python
    from kmix.ops.token_masks import block_token_masks

    masks = block_token_masks([112, 112], 14, 14, seed=0)
    covered = masks.numpy().sum(axis=(1, 2))
    print(bool((covered <= 112).all()), bool((covered > 90).all()))  # True True
    ```
    """
    grid_height = check_int(grid_height, "grid_height", minimum=1)
    grid_width = check_int(grid_width, "grid_width", minimum=1)
    max_attempts = check_int(max_attempts, "max_attempts", minimum=1)
    if max_rounds is None:
        max_rounds = grid_height * grid_width
    max_rounds = check_int(max_rounds, "max_rounds", minimum=1)
    if not 0.0 < min_aspect <= 1.0:
        raise ValueError(f"`min_aspect` must be in (0, 1]. Received: min_aspect={min_aspect}")
    seed = to_seed_tensor(seed)
    counts = tf.cast(tf.convert_to_tensor(counts), tf.int32)
    num_masks = counts.shape[0] if counts.shape[0] is not None else tf.shape(counts)[0]

    def round_body(step, mask, covered, done):
        round_seed = tf.random.experimental.stateless_fold_in(seed, step)
        draws = tf.random.stateless_uniform(
            tf.stack([num_masks, max_attempts, 4]), round_seed, dtype=tf.float32
        )
        mask, covered, done = block_mask_round(
            mask, counts, done, draws, min_num_patches, min_aspect
        )
        return step + 1, mask, covered, done

    mask0 = tf.zeros(tf.stack([num_masks, grid_height, grid_width]), tf.float32)
    covered0 = tf.zeros_like(counts)
    done0 = counts <= 0

    def cond(step, mask, covered, done):
        return ~tf.reduce_all(done)

    _, mask, _, _ = tf.while_loop(
        cond,
        round_body,
        (tf.constant(0, tf.int32), mask0, covered0, done0),
        maximum_iterations=max_rounds,
    )
    return mask


__all__ = [
    "MASK_TYPES",
    "block_mask_round",
    "block_token_masks",
    "random_token_masks",
    "tokenmix_token_counts",
]
