"""Pure DQN maths: the epsilon schedule and (n-step, double) TD targets.

Plain NumPy so each can be checked against hand-computed values; the training
loop uses `linear_epsilon` directly, and `td_targets` states what TF-Agents'
DqnAgent/DdqnAgent compute inside their loss.
"""

from __future__ import annotations

import numpy as np


def linear_epsilon(step: int, start: float, end: float, decay_steps: int) -> float:
    """Epsilon at env `step`: linear from `start` to `end` over `decay_steps`, then flat."""
    if decay_steps <= 0:
        return float(end)
    fraction = min(max(step, 0) / decay_steps, 1.0)
    return float(start + fraction * (end - start))


def n_step_return(rewards: np.ndarray, discounts: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted sum of the first n rewards, cut at episode ends.

    Args:
      rewards: [batch, n] rewards r_t .. r_{t+n-1}.
      discounts: [batch, n] environment discounts (0 after a terminal step).
      gamma: discount factor.

    Returns:
      [batch] sum_k gamma^k * prod_{j<k} d_{t+j} * r_{t+k}.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    discounts = np.asarray(discounts, dtype=np.float64)
    n = rewards.shape[1]
    # Weight of r_{t+k}: gamma^k times the discounts of the steps before it.
    alive = np.concatenate(
        [np.ones((rewards.shape[0], 1)), np.cumprod(discounts, axis=1)[:, :-1]], axis=1
    )
    return np.sum(rewards * alive * gamma ** np.arange(n), axis=1)


def td_targets(
    rewards: np.ndarray,
    discounts: np.ndarray,
    next_q_target: np.ndarray,
    gamma: float,
    next_q_online: np.ndarray | None = None,
) -> np.ndarray:
    """n-step TD targets for DQN, or Double DQN when `next_q_online` is given.

    target = n_step_return + gamma^n * prod(discounts) * Q_target(s_{t+n}, a*),
    with a* = argmax_a Q_target(s_{t+n}, a) for DQN and
    a* = argmax_a Q_online(s_{t+n}, a) for Double DQN.

    Args:
      rewards: [batch, n] (or [batch] for one-step) rewards.
      discounts: same shape as `rewards`, environment discounts.
      next_q_target: [batch, num_actions] target-network Q-values at s_{t+n}.
      gamma: discount factor.
      next_q_online: [batch, num_actions] online-network Q-values at s_{t+n}.

    Returns:
      [batch] TD targets.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    discounts = np.asarray(discounts, dtype=np.float64)
    if rewards.ndim == 1:
        rewards, discounts = rewards[:, None], discounts[:, None]
    if rewards.shape != discounts.shape:
        raise ValueError(f"rewards {rewards.shape} and discounts {discounts.shape} must match")
    next_q_target = np.asarray(next_q_target, dtype=np.float64)
    chooser = next_q_target if next_q_online is None else np.asarray(next_q_online)
    best = np.argmax(chooser, axis=1)
    bootstrap = next_q_target[np.arange(len(best)), best]
    n = rewards.shape[1]
    return (
        n_step_return(rewards, discounts, gamma) + gamma**n * np.prod(discounts, axis=1) * bootstrap
    )


def training_phases(start: int, end: int, train_freq: int, learning_starts: int) -> int:
    """Training phases due after collecting env steps (start, end]: the multiples of
    `train_freq` in (max(start, learning_starts), end]. One per call with one env;
    with N envs a vector step of N > train_freq steps owes several, which keeps
    gradient steps per env step at gradient_steps / train_freq."""
    first = max(start, learning_starts)
    return max(0, end // train_freq - first // train_freq)
