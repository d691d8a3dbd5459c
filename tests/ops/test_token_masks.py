"""kmix.ops.token_masks: TokenMix's block and random token masks, the official count rule."""

import math
import random

import numpy as np
import pytest
import tensorflow as tf

from kmix.ops.token_masks import block_mask_round
from kmix.ops.token_masks import block_token_masks
from kmix.ops.token_masks import random_token_masks
from kmix.ops.token_masks import tokenmix_token_counts
from tests.vectors import array
from tests.vectors import load

DATA = load("tokenmix")


# ----------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------
def _official_block_mask(rng, count, size=14, min_patches=1, min_aspect=0.3):
    """numpy/random restatement of TokenMix's generate_mask (Python's RNG).

    Also returns, per round, the draws of its (up to 10) attempts as uniforms
    `(u_area, u_aspect, u_top, u_left)` in the form `block_mask_round` reads.
    """
    lo, hi = math.log(min_aspect), math.log(1 / min_aspect)
    mask = np.zeros((size, size), int)
    covered, rounds = 0, []
    while covered < count:
        remaining, delta = count - covered, 0
        draws = np.full((10, 4), 0.5)
        for attempt in range(10):
            draws[attempt, 0] = u_area = rng.random()
            draws[attempt, 1] = u_aspect = rng.random()
            area = min_patches + (remaining - min_patches) * u_area  # random.uniform
            aspect = math.exp(lo + (hi - lo) * u_aspect)
            h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if w < size and h < size:
                top, left = rng.randint(0, size - h), rng.randint(0, size - w)
                draws[attempt, 2] = (top + 0.5) / (size - h + 1)
                draws[attempt, 3] = (left + 0.5) / (size - w + 1)
                if 0 < h * w - mask[top:top + h, left:left + w].sum() <= remaining:
                    delta = h * w - mask[top:top + h, left:left + w].sum()
                    mask[top:top + h, left:left + w] = 1
                if delta > 0:
                    break
        rounds.append(draws)
        if delta == 0:
            break
        covered += delta
    return mask, rounds


@pytest.mark.parametrize("case", DATA["cases"][:2], ids=[c["name"] for c in DATA["cases"][:2]])
def test_block_rounds_given_the_official_draws_rebuild_the_official_mask(case):
    # TokenMix's block mask uses only Python's `random` (seeded in the run).
    official, rounds = _official_block_mask(random.Random(case["inputs"]["seed_python_random_and_numpy"]), 112)
    expected = array(case["outputs"]["token_mask_b"], np.float32)
    np.testing.assert_array_equal(official, expected)
    mask = tf.zeros([1, 14, 14])
    done = tf.constant([False])
    for draws in rounds:
        mask, covered, done = block_mask_round(mask, tf.constant([112]), done, tf.constant(draws[None], tf.float32))
    np.testing.assert_array_equal(mask.numpy()[0], expected)
    assert bool(done.numpy()[0]) and int(covered.numpy()[0]) == expected.sum()
    assert len(rounds) > 3  # several rounds and attempts were replayed


def test_token_counts_follow_the_official_rule():
    assert tokenmix_token_counts([0.5], 196, 14).numpy().tolist() == [112]
    assert tokenmix_token_counts([0.0, 1.0, 0.3], 196, 14).numpy().tolist() == [196, 14, 151]
    with pytest.raises(ValueError, match=r"`minimum_tokens` must be an int >= 0. Received: minimum_tokens=-1"):
        tokenmix_token_counts([0.5], 196, -1)


def test_block_masks_have_the_official_distribution():
    rng = random.Random(0)
    official = np.stack([_official_block_mask(rng, 112)[0] for _ in range(300)]).astype(np.float32)
    ours = block_token_masks(tf.fill([300], 112), 14, 14, seed=3).numpy()
    assert ours.shape == (300, 14, 14) and set(np.unique(ours)) <= {0.0, 1.0}
    assert (ours.sum((1, 2)) <= 112).all()
    # Nearly always exactly the count, as the official loop.
    assert abs((ours.sum((1, 2)) == 112).mean() - (official.sum((1, 2)) == 112).mean()) < 0.05
    # Same spatial occupancy profile (blocks favour the centre).
    np.testing.assert_allclose(ours.mean(0).mean(1), official.mean(0).mean(1), atol=0.06)
    np.testing.assert_allclose(ours.mean(0).mean(0), official.mean(0).mean(0), atol=0.06)
    # Blocks, not scattered tokens: far fewer 4-neighbour boundaries than random masks.
    def edges(m):
        return np.abs(np.diff(m, axis=1)).sum() + np.abs(np.diff(m, axis=2)).sum()

    scattered = random_token_masks(tf.fill([300], 112), 14, 14, seed=3).numpy()
    assert edges(ours) < 0.6 * edges(scattered)
    assert abs(edges(ours) - edges(official)) < 0.15 * edges(official)


def test_block_masks_compile_under_xla_and_respect_small_counts():
    fn = tf.function(lambda counts, seed: block_token_masks(counts, 4, 6, seed), jit_compile=True)
    masks = fn(tf.constant([0, 1, 5, 12, 23]), tf.constant([4, 2])).numpy()
    counts = masks.sum((1, 2))
    assert counts[0] == 0 and counts[1] == 1
    assert (counts <= [0, 1, 5, 12, 23]).all() and counts[3] >= 8


def test_random_masks_take_exactly_the_count():
    masks = random_token_masks([0, 7, 16], 4, 4, seed=1).numpy()
    assert masks.sum((1, 2)).tolist() == [0.0, 7.0, 16.0]
