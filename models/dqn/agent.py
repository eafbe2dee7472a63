"""Q-network factory, DQN / Double-DQN agent factory and the replay buffer."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tf_keras
from tf_agents.agents.dqn import dqn_agent
from tf_agents.networks import q_network
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import common

from models.dqn.config import DqnConfig


def build_q_network(
    observation_spec: tensor_spec.TensorSpec,
    action_spec: tensor_spec.BoundedTensorSpec,
    hidden_units: tuple[int, ...],
    name: str = "QNetwork",
) -> q_network.QNetwork:
    """MLP Q-network: observation -> ReLU layers -> one Q-value per action."""
    return q_network.QNetwork(
        observation_spec,
        action_spec,
        fc_layer_params=tuple(hidden_units),
        kernel_initializer=tf_keras.initializers.VarianceScaling(
            scale=2.0, mode="fan_in", distribution="truncated_normal"
        ),
        name=name,
    )


def build_agent(
    time_step_spec: ts.TimeStep,
    action_spec: tensor_spec.BoundedTensorSpec,
    q_net: q_network.QNetwork,
    config: DqnConfig,
    epsilon: Callable[[], tf.Tensor] | float,
    train_step_counter: tf.Variable,
) -> dqn_agent.DqnAgent:
    """A TF-Agents DqnAgent (or DdqnAgent when `config.double_dqn`) over `q_net`, initialised."""
    agent_cls = dqn_agent.DdqnAgent if config.double_dqn else dqn_agent.DqnAgent
    agent = agent_cls(
        time_step_spec,
        action_spec,
        q_network=q_net,
        optimizer=tf_keras.optimizers.Adam(learning_rate=config.learning_rate),
        epsilon_greedy=epsilon,
        n_step_update=config.n_step,
        target_update_tau=config.target_update_tau,
        target_update_period=config.target_update_period,
        td_errors_loss_fn=common.element_wise_huber_loss,
        gamma=config.gamma,
        gradient_clipping=config.gradient_clipping or None,
        train_step_counter=train_step_counter,
    )
    agent.initialize()
    return agent


def build_replay_buffer(
    agent: dqn_agent.DqnAgent, capacity: int
) -> tf_uniform_replay_buffer.TFUniformReplayBuffer:
    """Uniform replay buffer over the agent's collect data spec (one env)."""
    return tf_uniform_replay_buffer.TFUniformReplayBuffer(
        data_spec=agent.collect_data_spec, batch_size=1, max_length=capacity
    )
