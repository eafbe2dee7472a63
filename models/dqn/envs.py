"""Gymnasium environments for TF-Agents, and batched greedy evaluation.

TF-Agents 0.19's `suite_gym` wraps the old `gym` package only, so a small
PyEnvironment adapter wraps any gymnasium id with a discrete action space and
a vector (Box) observation.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
from tf_agents.environments import py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts


def make_gym(env_id: str) -> gym.Env:
    """`gymnasium.make(env_id)`, checked to be discrete-action with a vector observation."""
    try:
        env = gym.make(env_id)
    except gym.error.Error as err:
        raise ValueError(f"unknown gymnasium environment id {env_id!r}: {err}") from err
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise ValueError(f"{env_id}: DQN needs a Discrete action space, got {env.action_space}")
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"{env_id}: expected a 1-D Box observation space, got {space}")
    return env


def reward_threshold(env_id: str) -> float | None:
    """The environment's registered solve threshold (475 for CartPole-v1), if any."""
    return gym.spec(env_id).reward_threshold


def env_dims(env_id: str) -> tuple[int, int]:
    """(observation size, number of actions) of `env_id`."""
    env = make_gym(env_id)
    try:
        return int(env.observation_space.shape[0]), int(env.action_space.n)
    finally:
        env.close()


class GymnasiumEnvironment(py_environment.PyEnvironment):
    """A gymnasium env as a TF-Agents PyEnvironment.

    Terminations end the episode with discount 0; time-limit truncations end it
    with discount 1, so the TD target still bootstraps from the last state.
    """

    def __init__(self, env_id: str, seed: int):
        super().__init__(handle_auto_reset=True)
        self._env = make_gym(env_id)
        self._seed: int | None = seed
        self._observation_spec = array_spec.ArraySpec(
            self._env.observation_space.shape, np.float32, name="observation"
        )
        self._action_spec = array_spec.BoundedArraySpec(
            (), np.int64, minimum=0, maximum=int(self._env.action_space.n) - 1, name="action"
        )

    def observation_spec(self) -> array_spec.ArraySpec:
        return self._observation_spec

    def action_spec(self) -> array_spec.BoundedArraySpec:
        return self._action_spec

    def _reset(self) -> ts.TimeStep:
        # Seed once; later resets continue the same random stream.
        obs, _ = self._env.reset(seed=self._seed)
        self._seed = None
        return ts.restart(np.asarray(obs, dtype=np.float32))

    def _step(self, action: np.ndarray) -> ts.TimeStep:
        obs, reward, terminated, truncated, _ = self._env.step(int(action))
        obs = np.asarray(obs, dtype=np.float32)
        reward = np.float32(reward)
        if terminated:
            return ts.termination(obs, reward)
        if truncated:
            return ts.truncation(obs, reward, discount=np.float32(1.0))
        return ts.transition(obs, reward, discount=np.float32(1.0))

    def close(self) -> None:
        self._env.close()


def evaluate_batched(
    env_id: str,
    greedy_actions: Callable[[np.ndarray], np.ndarray],
    num_episodes: int,
    seed: int,
) -> np.ndarray:
    """Returns of `num_episodes` greedy episodes run side by side.

    All episodes step together, so each step costs one batched policy call.
    Episode i is seeded with `seed + i`, making the evaluation repeatable.

    Args:
      env_id: gymnasium id.
      greedy_actions: maps observations [k, obs_dim] float32 to actions [k].
      num_episodes: how many episodes (one env each).
      seed: base seed.

    Returns:
      float64 array [num_episodes] of undiscounted returns.
    """
    envs = [make_gym(env_id) for _ in range(num_episodes)]
    try:
        obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]).astype(
            np.float32
        )
        returns = np.zeros(num_episodes)
        running = np.ones(num_episodes, dtype=bool)
        while running.any():
            live = np.flatnonzero(running)
            actions = np.asarray(greedy_actions(obs[live]))
            for i, action in zip(live, actions, strict=True):
                next_obs, reward, terminated, truncated, _ = envs[i].step(int(action))
                returns[i] += reward
                obs[i] = next_obs
                if terminated or truncated:
                    running[i] = False
        return returns
    finally:
        for env in envs:
            env.close()
