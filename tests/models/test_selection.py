"""Uncertainty scores and budgeted selection against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import selection

PROBS = np.array(
    [
        [0.9, 0.05, 0.05],  # certain: margin 0.85
        [0.4, 0.35, 0.25],  # unsure: margin 0.05
        [1 / 3, 1 / 3, 1 / 3],  # uniform: margin 0, entropy ln 3
        [0.6, 0.4, 0.0],  # margin 0.2, a zero probability
    ]
)


def test_margin_is_top1_minus_top2():
    np.testing.assert_allclose(selection.margin(PROBS), [0.85, 0.05, 0.0, 0.2], atol=1e-12)


def test_entropy_in_nats_with_zero_probabilities_counted_as_zero():
    h = selection.entropy(PROBS)
    assert h[2] == pytest.approx(math.log(3))
    assert h[3] == pytest.approx(-(0.6 * math.log(0.6) + 0.4 * math.log(0.4)))
    assert h[0] < h[3] < h[1] < h[2]


def test_margin_strategy_picks_smallest_margins_first():
    scores = selection.informativeness(PROBS, selection.MARGIN)
    assert selection.select(["a", "b", "c", "d"], scores, 2) == [2, 1]


def test_entropy_strategy_picks_flattest_first():
    scores = selection.informativeness(PROBS, selection.ENTROPY)
    assert selection.select(["a", "b", "c", "d"], scores, 3) == [2, 1, 3]


def test_random_strategy_is_seeded_and_differs_between_seeds():
    a = selection.informativeness(np.zeros((50, 2)), selection.RANDOM, seed=1)
    b = selection.informativeness(np.zeros((50, 2)), selection.RANDOM, seed=1)
    c = selection.informativeness(np.zeros((50, 2)), selection.RANDOM, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_duplicates_picked_once_and_excluded_keys_never():
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    # "x" twice: only its best row (0); "y" is in a training span.
    assert selection.select(["x", "x", "y", "z"], scores, 10, exclude={"y"}) == [0, 3]


def test_budget_larger_than_pool_takes_the_pool():
    assert sorted(selection.select(["a", "b"], np.array([0.1, 0.2]), 100)) == [0, 1]


def test_bad_input_is_refused_with_what_was_expected():
    with pytest.raises(ValueError, match="classes>=2"):
        selection.margin(np.array([[1.0], [1.0]]))
    with pytest.raises(ValueError, match="strategy 'best'"):
        selection.informativeness(PROBS, "best")
    with pytest.raises(ValueError, match="budget must be >= 0"):
        selection.select(["a"], np.array([1.0]), -1)
