"""Pixel observations: Atari preprocessing and MinAtar shapes, the CNN
Q-networks, and the frame-once replay memory."""

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

from models.dqn.agent import build_q_network, choose_network
from models.dqn.envs import GymnasiumEnvironment, evaluate_batched
from models.dqn.gym_envs import make_gym
from models.dqn.memory import bytes_per_transition, check_budget
from models.dqn.replay import FrameReplay


def test_atari_preprocessing_gives_84x84_uint8_four_frame_stacks_newest_last():
    env = make_gym("ALE/Pong-v5", training=True)
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (84, 84, 4) and obs.dtype == np.uint8
        # A reset pads the stack with copies of its first frame.
        assert all(np.array_equal(obs[..., 0], obs[..., k]) for k in range(1, 4))
        previous = obs
        for _ in range(3):
            obs, reward, *_ = env.step(0)
            assert reward in (-1.0, 0.0, 1.0)  # clipped in training
        # After three steps the stack has shifted by three frames.
        assert np.array_equal(obs[..., 0], previous[..., 3])
    finally:
        env.close()


def test_minatar_observation_is_a_uint8_grid_and_episodes_are_capped_in_frames():
    env = GymnasiumEnvironment("MinAtar/Breakout-v1", seed=0, max_episode_frames=5)
    first = env.reset()
    assert first.observation.shape == (10, 10, 4) and first.observation.dtype == np.uint8
    assert set(np.unique(first.observation)) <= {0, 1}
    assert env.observation_spec().maximum == 1
    steps = [env.step(np.int64(0)) for _ in range(5)]
    # Truncated at the cap (or terminated earlier): the episode ends by step 5.
    assert any(s.is_last() for s in steps)


def test_epsilon_evaluation_of_a_pixel_env_is_repeatable_for_a_seed():
    def stay(obs):
        assert obs.dtype == np.uint8 and obs.shape[1:] == (10, 10, 4)
        return np.zeros(len(obs), int)

    args = ("MinAtar/Breakout-v1", stay, 3, 5)
    first = evaluate_batched(*args, epsilon=0.5, max_episode_frames=200)
    assert np.array_equal(first, evaluate_batched(*args, epsilon=0.5, max_episode_frames=200))


@pytest.mark.parametrize(
    ("shape", "expected", "params"),
    [
        # Nature DQN: convs 32x8x8/4, 64x4x4/2, 64x3x3/1 (7x7x64 out), 512 dense, 6 actions.
        ((84, 84, 4), "nature", 8_224 + 32_832 + 36_928 + (3_136 * 512 + 512) + 3_078),
        # MinAtar: conv 16x3x3/1 (8x8x16 out), 128 dense, 3 actions.
        ((10, 10, 4), "minatar", 592 + (1_024 * 128 + 128) + 387),
        ((4,), "mlp", None),
    ],
)
def test_network_is_chosen_from_the_observation_shape(shape, expected, params):
    assert choose_network(shape) == expected
    if params is None:
        return
    hidden = (512,) if expected == "nature" else (128,)
    actions = 6 if expected == "nature" else 3
    obs_spec = tensor_spec.BoundedTensorSpec(shape, tf.uint8, 0, 255)
    action_spec = tensor_spec.BoundedTensorSpec([], tf.int64, 0, actions - 1)
    q_net = build_q_network(obs_spec, action_spec, hidden)
    q_values, _ = q_net(tf.zeros([2, *shape], tf.uint8))
    assert q_values.shape == (2, actions)
    assert q_net.count_params() == params


def test_network_override_is_checked():
    assert choose_network((84, 84, 4), "minatar") == "minatar"
    with pytest.raises(ValueError, match="network must be one of"):
        choose_network((84, 84, 4), "resnet")


def test_replay_stores_one_uint8_frame_per_transition():
    # Atari: one 84x84 frame (7,056 bytes) + 22 bytes of scalars, against
    # 28,224 bytes for the stacked observation alone in TF-Agents' buffer.
    assert bytes_per_transition((84, 84, 1)) == 7_078
    assert bytes_per_transition((10, 10, 4)) == 422
    assert check_budget(100_000, (84, 84, 1), available=2**40) == 707_800_000


def test_replay_budget_refuses_a_buffer_that_does_not_fit():
    with pytest.raises(MemoryError, match=r"needs 6\.59 GiB .* replay_capacity=\d+ or less"):
        check_budget(1_000_000, (84, 84, 1), available=4 * 2**30)


def _spec(stack: int) -> trajectory.Trajectory:
    obs = tensor_spec.TensorSpec([2, 2, stack], tf.uint8)
    time_step_spec = ts.time_step_spec(obs)
    action = tensor_spec.BoundedTensorSpec([], tf.int64, 0, 1)
    return trajectory.Trajectory(
        step_type=time_step_spec.step_type,
        observation=obs,
        action=action,
        policy_info=(),
        next_step_type=time_step_spec.step_type,
        reward=time_step_spec.reward,
        discount=time_step_spec.discount,
    )


def test_replay_rebuilds_stacks_padding_with_the_episodes_first_frame():
    stack, capacity = 4, 16
    replay = FrameReplay(_spec(stack), capacity, frames_per_observation=stack)
    assert replay.nbytes == capacity * (4 + 22)
    frames, expected = [], []  # frame value = its position; episodes start at 0 and 5
    for position in range(20):
        first = position in (0, 5)
        frames.append(position)
        start = max(i for i in (0, 5) if i <= position)
        window = [max(position - lag, start) for lag in range(stack - 1, -1, -1)]
        expected.append(window)
        obs = np.broadcast_to(np.array(window, np.uint8), (1, 2, 2, stack))
        replay.add_batch(
            trajectory.Trajectory(
                step_type=tf.constant([0 if first else 1], tf.int32),
                observation=tf.constant(obs),
                action=tf.constant([position % 2], tf.int64),
                policy_info=(),
                next_step_type=tf.constant([1], tf.int32),
                reward=tf.constant([float(position)]),
                discount=tf.constant([1.0]),
            )
        )
    experience, _ = replay.get_next(sample_batch_size=64, num_steps=2)
    rewards = experience.reward.numpy().astype(int)
    observation = experience.observation.numpy()
    assert observation.shape == (64, 2, 2, 2, stack) and observation.dtype == np.uint8
    # Only kept steps, and only windows whose whole stack is kept.
    assert rewards.min() >= 20 - capacity + stack - 1 and rewards.max() <= 19
    for b in range(64):
        for t in range(2):
            assert observation[b, t, 0, 0].tolist() == expected[rewards[b, t]]
        assert rewards[b, 1] == rewards[b, 0] + 1
    assert np.array_equal(experience.action.numpy(), rewards % 2)


def test_command_line_preflight_refuses_a_replay_memory_that_will_not_fit():
    from vrl.preflight import check_env

    check_env("MinAtar/Breakout-v1", replay_capacity=1_000)
    with pytest.raises(ValueError, match=r"MinAtar/Breakout-v1: replay memory of .* GiB"):
        check_env("MinAtar/Breakout-v1", replay_capacity=10**13)
