"""Gymnasium environments for TF-Agents, and batched evaluation.

TF-Agents 0.19's `suite_gym` and `suite_atari` wrap the old `gym` package
only, so a small PyEnvironment adapter wraps any gymnasium id with a discrete
action space and a vector (float32) or image (uint8 [H, W, C]) observation,
built by `models.dqn.gym_envs.make_gym`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tf_agents.environments import batched_py_environment, py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from models.dqn.gym_envs import is_image, make_gym, reward_threshold

__all__ = [
    "GymnasiumEnvironment",
    "env_dims",
    "evaluate_batched",
    "make_gym",
    "reward_threshold",
    "training_env",
]


def env_dims(env_id: str) -> tuple[int, int]:
    """(observation size, number of actions) of a vector-observation `env_id`."""
    env = make_gym(env_id)
    try:
        return int(np.prod(env.observation_space.shape)), int(env.action_space.n)
    finally:
        env.close()


class GymnasiumEnvironment(py_environment.PyEnvironment):
    """A gymnasium env as a TF-Agents PyEnvironment.

    Terminations end the episode with discount 0; time-limit truncations end it
    with discount 1, so the TD target still bootstraps from the last state.
    """

    def __init__(self, env_id: str, seed: int, training: bool = False, max_episode_frames: int = 0):
        super().__init__(handle_auto_reset=True)
        self._env = make_gym(env_id, training, max_episode_frames)
        self._seed: int | None = seed
        space = self._env.observation_space
        self._dtype = np.uint8 if is_image(space) else np.float32
        if is_image(space):
            # Bounded, so the Q-network learns the pixel scale (255 Atari, 1 MinAtar).
            self._observation_spec = array_spec.BoundedArraySpec(
                space.shape, np.uint8, 0, int(np.max(space.high)), name="observation"
            )
        else:
            self._observation_spec = array_spec.ArraySpec(space.shape, np.float32, "observation")
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
        return ts.restart(np.asarray(obs, dtype=self._dtype))

    def _step(self, action: np.ndarray) -> ts.TimeStep:
        obs, reward, terminated, truncated, _ = self._env.step(int(action))
        obs = np.asarray(obs, dtype=self._dtype)
        reward = np.float32(reward)
        if terminated:
            return ts.termination(obs, reward)
        if truncated:
            return ts.truncation(obs, reward, discount=np.float32(1.0))
        return ts.transition(obs, reward, discount=np.float32(1.0))

    def close(self) -> None:
        self._env.close()


def training_env(
    env_id: str, seed: int, num_envs: int, max_episode_frames: int = 0
) -> py_environment.PyEnvironment:
    """`num_envs` training copies of `env_id` (copy i seeded `seed + i`), stepped as
    one batch by TF-Agents' BatchedPyEnvironment in this thread (a thread pool costs
    more than a MinAtar or Atari step); each copy resets itself after its episode
    ends. One copy is returned unbatched, as before batching existed."""
    copies = [
        GymnasiumEnvironment(env_id, seed + i, training=True, max_episode_frames=max_episode_frames)
        for i in range(num_envs)
    ]
    if num_envs == 1:
        return copies[0]
    return batched_py_environment.BatchedPyEnvironment(copies, multithreading=False)


def evaluate_batched(
    env_id: str,
    greedy_actions: Callable[[np.ndarray], np.ndarray],
    num_episodes: int,
    seed: int,
    epsilon: float = 0.0,
    max_episode_frames: int = 0,
) -> np.ndarray:
    """Returns of `num_episodes` evaluation episodes run side by side.

    All episodes step together, so each step costs one batched policy call.
    Episode i is seeded with `seed + i`, and the epsilon-greedy draws come
    from a generator seeded with `seed`, making the evaluation repeatable.
    Rewards are the env's own (never clipped).

    Args:
      env_id: gymnasium id.
      greedy_actions: maps observations [k, ...] (float32 vectors or uint8
        images) to actions [k].
      num_episodes: how many episodes (one env each).
      seed: base seed.
      epsilon: probability of a uniformly random action at each step.
      max_episode_frames: truncate episodes after this many frames (0: env's own limit).

    Returns:
      float64 array [num_episodes] of undiscounted returns.
    """
    envs = [make_gym(env_id, max_episode_frames=max_episode_frames) for _ in range(num_episodes)]
    rng = np.random.default_rng(seed)
    try:
        dtype = np.uint8 if is_image(envs[0].observation_space) else np.float32
        obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]).astype(dtype)
        num_actions = int(envs[0].action_space.n)
        returns = np.zeros(num_episodes)
        running = np.ones(num_episodes, dtype=bool)
        while running.any():
            live = np.flatnonzero(running)
            actions = np.asarray(greedy_actions(obs[live]))
            if epsilon > 0.0:
                explore = rng.random(len(live)) < epsilon
                actions = np.where(explore, rng.integers(num_actions, size=len(live)), actions)
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
