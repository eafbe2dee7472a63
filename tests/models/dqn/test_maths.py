"""Epsilon schedule and TD targets against hand-computed values."""

import numpy as np
import pytest

from models.dqn.maths import linear_epsilon, n_step_return, td_targets


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 1.0), (2_000, 0.76), (4_000, 0.52), (8_000, 0.04), (20_000, 0.04), (-5, 1.0)],
)
def test_linear_epsilon_decays_linearly_then_stays_flat(step, expected):
    assert linear_epsilon(step, 1.0, 0.04, 8_000) == pytest.approx(expected)


def test_linear_epsilon_without_decay_is_the_end_value():
    assert linear_epsilon(0, 1.0, 0.1, 0) == pytest.approx(0.1)


def test_one_step_dqn_target_bootstraps_from_max_target_q_unless_terminal():
    # 1 + 0.9 * max(1, 3) = 3.7; the second transition ends the episode: 1.
    targets = td_targets(
        rewards=np.array([1.0, 1.0]),
        discounts=np.array([1.0, 0.0]),
        next_q_target=np.array([[1.0, 3.0], [5.0, 2.0]]),
        gamma=0.9,
    )
    np.testing.assert_allclose(targets, [3.7, 1.0])


def test_double_dqn_target_values_the_online_argmax_with_the_target_net():
    # Online net picks action 0 (2 > 1); target net values it at 1: 1 + 0.9 * 1.
    targets = td_targets(
        rewards=np.array([1.0]),
        discounts=np.array([1.0]),
        next_q_target=np.array([[1.0, 3.0]]),
        gamma=0.9,
        next_q_online=np.array([[2.0, 1.0]]),
    )
    np.testing.assert_allclose(targets, [1.9])


def test_n_step_target_sums_discounted_rewards_then_bootstraps_gamma_to_the_n():
    # 1 + 0.5 * 2 + 0.5^2 * max(10, 4) = 4.5
    targets = td_targets(
        rewards=np.array([[1.0, 2.0]]),
        discounts=np.array([[1.0, 1.0]]),
        next_q_target=np.array([[10.0, 4.0]]),
        gamma=0.5,
    )
    np.testing.assert_allclose(targets, [4.5])


def test_n_step_return_stops_at_a_terminal_step():
    # The episode ends after the first reward: later rewards and bootstrap drop.
    np.testing.assert_allclose(
        n_step_return(np.array([[1.0, 2.0, 4.0]]), np.array([[0.0, 1.0, 1.0]]), 0.5), [1.0]
    )
    targets = td_targets(
        np.array([[1.0, 2.0]]), np.array([[0.0, 1.0]]), np.array([[10.0, 4.0]]), 0.5
    )
    np.testing.assert_allclose(targets, [1.0])


def test_td_targets_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="must match"):
        td_targets(np.ones((2, 2)), np.ones((2, 3)), np.ones((2, 2)), 0.9)
