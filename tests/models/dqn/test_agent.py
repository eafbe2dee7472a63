"""The agent factory's TD targets equal models.dqn.maths.td_targets."""

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

from models.dqn.agent import build_agent, build_q_network
from models.dqn.config import DqnConfig
from models.dqn.maths import td_targets

OBS_SPEC = tensor_spec.TensorSpec([3], tf.float32, name="observation")
ACTION_SPEC = tensor_spec.BoundedTensorSpec([], tf.int64, minimum=0, maximum=1, name="action")


def _experience(n_step: int, batch: int = 4) -> trajectory.Trajectory:
    rng = np.random.default_rng(0)
    shape = (batch, n_step + 1)
    discount = np.ones(shape, np.float32)
    discount[0, 0] = 0.0  # first sample's episode terminates after its first step
    return trajectory.Trajectory(
        step_type=tf.fill(shape, ts.StepType.MID),
        observation=tf.constant(rng.normal(size=(*shape, 3)), tf.float32),
        action=tf.constant(rng.integers(0, 2, size=shape), tf.int64),
        policy_info=(),
        next_step_type=tf.fill(shape, ts.StepType.MID),
        reward=tf.constant(rng.normal(size=shape), tf.float32),
        discount=tf.constant(discount),
    )


@pytest.mark.parametrize(("double_dqn", "n_step"), [(False, 1), (True, 1), (True, 3)])
def test_agent_td_targets_match_the_pure_function(double_dqn, n_step):
    config = DqnConfig(hidden_units=(8,), double_dqn=double_dqn, n_step=n_step, gamma=0.9)
    q_net = build_q_network(OBS_SPEC, ACTION_SPEC, config.hidden_units)
    agent = build_agent(
        ts.time_step_spec(OBS_SPEC), ACTION_SPEC, q_net, config, 0.1, tf.Variable(0, dtype=tf.int64)
    )
    # Make the target net differ from the online net so DQN and DDQN disagree.
    for var in agent._target_q_network.variables:  # noqa: SLF001
        var.assign(tf.random.stateless_normal(var.shape, seed=[1, 2]))
    experience = _experience(n_step)

    loss_info = agent._loss(experience, gamma=config.gamma)  # noqa: SLF001
    obs = experience.observation.numpy()
    q_taken = np.take_along_axis(
        q_net(obs[:, 0])[0].numpy(), experience.action.numpy()[:, :1], axis=1
    )[:, 0]
    agent_targets = loss_info.extra.td_error.numpy() + q_taken

    expected = td_targets(
        experience.reward.numpy()[:, :-1],
        experience.discount.numpy()[:, :-1],
        agent._target_q_network(obs[:, -1])[0].numpy(),  # noqa: SLF001
        gamma=0.9,
        next_q_online=q_net(obs[:, -1])[0].numpy() if double_dqn else None,
    )
    np.testing.assert_allclose(agent_targets, expected, rtol=1e-5, atol=1e-5)
