"""Batched envs (num_envs): frame replay over several env streams checked against
the observations the envs produced, the training-phase count, and the config."""

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import trajectory

from models.dqn.config import DqnConfig, resolve_mixed_precision, resolve_num_envs
from models.dqn.envs import training_env
from models.dqn.gym_envs import _channels_last
from models.dqn.maths import training_phases
from models.dqn.memory import check_budget
from models.dqn.replay import FrameReplay

STACK = 4
ENV_ID = "VrlTest/StackedCounter-v0"


class _Counter(gym.Env):
    """2x2 frames naming (stream, episode, step); episodes of 2-6 steps, ended by
    termination and truncation in turn. The stream is the env's seed."""

    observation_space = gym.spaces.Box(0, 255, (2, 2), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self._stream, self._episode, self._t, self._length = 0, -1, 0, 0

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self._stream = seed
        self._episode += 1
        self._t, self._length = 0, 2 + (self._stream + 3 * self._episode) % 5
        return self._frame(), {}

    def _frame(self):
        return np.array([[self._stream, self._episode], [self._t, 7]], np.uint8)

    def step(self, action):
        self._t += 1
        over = self._t >= self._length
        terminated, truncated = over and self._episode % 2 == 0, over and self._episode % 2 == 1
        return self._frame(), 0.0, terminated, truncated, {}


def _make_stacked():
    return _channels_last(gym.wrappers.FrameStackObservation(_Counter(), STACK))


if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=_make_stacked)


def _key(observation: np.ndarray) -> tuple[int, ...]:
    """(stream, episode, step) of an observation's newest frame."""
    return tuple(int(v) for v in observation[..., -1].ravel()[:3])


@pytest.mark.parametrize("num_envs", [1, 3])
def test_sampled_stacks_are_the_observations_each_env_produced_across_episode_ends(num_envs):
    env = training_env(ENV_ID, seed=0, num_envs=num_envs)
    batch = (lambda x: x) if env.batched else (lambda x: np.asarray(x)[None])
    spec = tensor_spec.from_spec(env.time_step_spec())
    data_spec = trajectory.Trajectory(
        step_type=spec.step_type,
        observation=spec.observation,
        action=tensor_spec.from_spec(env.action_spec()),
        policy_info=(),
        next_step_type=spec.step_type,
        reward=spec.reward,
        discount=spec.discount,
    )
    replay = FrameReplay(data_spec, 20 * num_envs, STACK, num_envs)
    assert replay.nbytes == 20 * num_envs * (2 * 2 + 22)  # bytes per transition unchanged
    rng = np.random.default_rng(0)
    seen, following, actions = {}, {}, {}
    time_step = env.reset()
    for _ in range(50):  # the memory wraps after 20 rows
        action = rng.integers(0, 2, size=num_envs)
        next_step = env.step(action if env.batched else action[0])
        for i, obs in enumerate(batch(time_step.observation)):
            seen[_key(obs)] = obs
            following[_key(obs)] = _key(batch(next_step.observation)[i])
            actions[_key(obs)] = action[i]
        replay.add_batch(
            trajectory.Trajectory(
                step_type=tf.constant(batch(time_step.step_type)),
                observation=tf.constant(batch(time_step.observation)),
                action=tf.constant(action),
                policy_info=(),
                next_step_type=tf.constant(batch(next_step.step_type)),
                reward=tf.constant(batch(next_step.reward)),
                discount=tf.constant(batch(next_step.discount)),
            )
        )
        time_step = next_step
    assert int(replay.num_frames()) == 50 * num_envs

    experience, _ = replay.get_next(sample_batch_size=256, num_steps=3)
    observations = experience.observation.numpy()
    streams = set()
    for b in range(256):
        keys = [_key(obs) for obs in observations[b]]
        streams.add(keys[0][0])
        for t, key in enumerate(keys):
            np.testing.assert_array_equal(observations[b, t], seen[key])
            assert experience.action.numpy()[b, t] == actions[key]
        assert keys[1:] == [following[k] for k in keys[:-1]]  # one stream, step after step
    assert streams == set(range(num_envs))
    step_types = set(experience.step_type.numpy().ravel())
    assert {0, 1, 2} <= step_types  # episode starts (padded stacks), middles and ends


def test_training_phases_keep_updates_per_env_step():
    assert training_phases(0, 4, train_freq=4, learning_starts=0) == 1
    assert training_phases(4, 7, train_freq=4, learning_starts=0) == 0
    assert training_phases(0, 8, train_freq=4, learning_starts=0) == 2  # 8 envs, one vector step
    assert training_phases(0, 16, train_freq=4, learning_starts=8) == 2  # only after the start
    assert training_phases(0, 8, train_freq=4, learning_starts=8) == 0


def test_num_envs_and_mixed_precision_resolve_from_auto_and_are_checked():
    assert DqnConfig().num_envs == "auto"
    assert resolve_num_envs("auto", has_gpu=False) == 1
    assert resolve_num_envs("auto", has_gpu=True) == 8
    assert resolve_num_envs(DqnConfig(num_envs=4).num_envs, has_gpu=True) == 4
    assert DqnConfig.from_json(DqnConfig(num_envs=3).to_json()).num_envs == 3
    assert not resolve_mixed_precision("auto", fast_float16_gpu=False)
    assert resolve_mixed_precision("auto", fast_float16_gpu=True)
    assert resolve_mixed_precision("on", fast_float16_gpu=False)
    with pytest.raises(ValueError, match="num_envs must be 'auto' or an int >= 1, got 0"):
        DqnConfig(num_envs=0)
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        DqnConfig(mixed_precision="fp16")


def test_budget_counts_the_transitions_the_streams_keep():
    # 1,000 over 3 streams keeps 333 each: 999 transitions of 422 bytes.
    assert check_budget(1_000, (10, 10, 4), available=2**40, num_envs=3) == 999 * 422


def test_replay_is_allocated_for_what_the_run_can_fill():
    from models.dqn.memory import replay_transitions

    assert replay_transitions(1_000_000, 2_000) == 2_000  # Pong's preset, a 2,000-step run
    assert replay_transitions(100_000, 500_000) == 100_000
    assert replay_transitions(1_000, 10, num_envs=8) == 16  # whole batches of 8
    assert replay_transitions(1_000, 1, num_envs=2) == 4  # at least two rows per stream
