"""The gymnasium adapter and batched evaluation."""

import numpy as np
import pytest
from tf_agents.environments import utils as env_utils

from models.dqn.envs import GymnasiumEnvironment, env_dims, evaluate_batched, reward_threshold


@pytest.mark.parametrize(
    ("env_id", "dims"),
    [("CartPole-v1", (4, 2)), ("Acrobot-v1", (6, 3)), ("MountainCar-v0", (2, 3))],
)
def test_classic_control_envs_pass_tf_agents_validation(env_id, dims):
    assert env_dims(env_id) == dims
    env = GymnasiumEnvironment(env_id, seed=0)
    env_utils.validate_py_environment(env, episodes=2)


def test_time_limit_truncation_keeps_discount_one_and_termination_zeroes_it():
    env = GymnasiumEnvironment(
        "MountainCar-v0", seed=0
    )  # never terminates at random: 200-step limit
    env.reset()
    steps = [env.step(np.int64(1)) for _ in range(200)]
    assert steps[-1].is_last() and steps[-1].discount == 1.0
    cartpole = GymnasiumEnvironment("CartPole-v1", seed=0)
    cartpole.reset()
    step = cartpole.step(np.int64(0))
    while not step.is_last():
        step = cartpole.step(np.int64(0))
    assert step.discount == 0.0


def test_non_discrete_env_is_rejected_with_its_id():
    with pytest.raises(ValueError, match="Pendulum-v1: DQN needs a Discrete action space"):
        GymnasiumEnvironment("Pendulum-v1", seed=0)


def test_batched_evaluation_is_seeded_and_runs_every_episode_to_its_end():
    calls = []

    def always_push(observations):
        calls.append(len(observations))
        return np.full(len(observations), 2)

    first = evaluate_batched("MountainCar-v0", always_push, num_episodes=4, seed=7)
    np.testing.assert_array_equal(first, [-200.0] * 4)  # time limit, one policy call per step
    assert calls[0] == 4 and len(calls) == 200
    left = evaluate_batched("CartPole-v1", lambda o: np.zeros(len(o), int), 5, seed=3)
    assert np.array_equal(
        left, evaluate_batched("CartPole-v1", lambda o: np.zeros(len(o), int), 5, seed=3)
    )
    assert (left < 20).all()


def test_reward_threshold_comes_from_the_registry():
    assert reward_threshold("CartPole-v1") == 475.0
    assert reward_threshold("Acrobot-v1") == -100.0
