"""Q-network factory (MLP or CNN), DQN / Double-DQN agent factory and the replay buffer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras
from tf_agents.agents.dqn import dqn_agent
from tf_agents.networks import q_network
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import common

from models.dqn.config import NETWORKS, DqnConfig
from models.dqn.memory import check_budget
from models.dqn.precision import LossScaledDdqnAgent, LossScaledDqnAgent, MixedPrecisionQNetwork
from models.dqn.replay import FrameReplay

# Conv torsos as TF-Agents' (filters, kernel, stride) triples.
NATURE_CONV = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
"""Nature DQN (Mnih et al. 2015) for 84x84x4 Atari frames; its 512-unit
dense layer comes from the config's hidden_units."""
MINATAR_CONV = ((16, 3, 1),)
"""The MinAtar paper's network (Young & Tian 2019): one 3x3 conv of 16
filters, stride 1, then a 128-unit dense layer (hidden_units)."""
NATURE_MIN_SIDE = 36  # 8/4 -> 4/2 -> 3/1 valid convolutions need >= 36 pixels


def choose_network(observation_shape: tuple[int, ...], network: str = "auto") -> str:
    """'mlp' for vectors; for images 'nature' when both sides are >= 36 pixels
    (84x84 Atari), else 'minatar' (10x10 grids); `network` other than 'auto' wins."""
    if network not in NETWORKS:
        raise ValueError(f"DqnConfig.network must be one of {NETWORKS}, got {network!r}")
    if network != "auto":
        return network
    if len(observation_shape) == 1:
        return "mlp"
    return "nature" if min(observation_shape[:2]) >= NATURE_MIN_SIDE else "minatar"


def build_q_network(
    observation_spec: tensor_spec.TensorSpec,
    action_spec: tensor_spec.BoundedTensorSpec,
    hidden_units: tuple[int, ...],
    network: str = "auto",
    name: str = "QNetwork",
    mixed_precision: bool = False,
) -> q_network.QNetwork | MixedPrecisionQNetwork:
    """TF-Agents QNetwork: an MLP for vector observations, or a conv torso
    (Nature DQN or MinAtar, see `choose_network`) over uint8 images scaled
    in-graph by 1/max value (1/255 for Atari, 1 for MinAtar's 0/1 grids).
    `mixed_precision`: the same layers with a float16 torso (models/dqn/precision.py).

    Kernels use TF-Agents' default initializer (He: truncated normal, scale 2,
    fan in), one random op per layer seeded from TensorFlow's global seed; a
    single tf_keras initializer instance shared by every layer would draw one
    seed for all of them (tf_keras warns: identical values for equal shapes)."""
    kind = choose_network(tuple(observation_spec.shape.as_list()), network)
    if kind != "mlp" and observation_spec.shape.rank != 3:
        raise ValueError(
            f"network {kind!r} needs an image observation [H, W, C], got {observation_spec.shape}"
        )
    image = observation_spec.shape.rank == 3
    preprocessing = None
    if image:
        high = float(np.max(getattr(observation_spec, "maximum", 255)))
        # Keras' Rescaling casts to float32 first: uint8 frames -> [0, 1] inside
        # the graph, so replay and serving carry uint8 (4x smaller than float32).
        preprocessing = tf_keras.layers.Rescaling(1.0 / max(high, 1.0), name="scale_uint8")
    conv = {"nature": NATURE_CONV, "minatar": MINATAR_CONV}.get(kind)
    network_cls = MixedPrecisionQNetwork if mixed_precision else q_network.QNetwork
    return network_cls(
        observation_spec,
        action_spec,
        preprocessing_layers=preprocessing,
        conv_layer_params=conv,
        fc_layer_params=tuple(hidden_units),
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
    """A TF-Agents DqnAgent (or DdqnAgent when `config.double_dqn`) over `q_net`,
    initialised; with a loss-scaled Adam when `q_net` is a MixedPrecisionQNetwork."""
    optimizer = tf_keras.optimizers.Adam(learning_rate=config.learning_rate)
    if isinstance(q_net, MixedPrecisionQNetwork):
        optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
        agent_cls = LossScaledDdqnAgent if config.double_dqn else LossScaledDqnAgent
    else:
        agent_cls = dqn_agent.DdqnAgent if config.double_dqn else dqn_agent.DqnAgent
    agent = agent_cls(
        time_step_spec,
        action_spec,
        q_network=q_net,
        optimizer=optimizer,
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
    agent: dqn_agent.DqnAgent, capacity: int, frames_per_observation: int = 1, num_envs: int = 1
) -> tf_uniform_replay_buffer.TFUniformReplayBuffer | FrameReplay:
    """Uniform replay over the agent's collect data spec for a batch of `num_envs`
    envs (capacity // num_envs steps each): TF-Agents' buffer for vector
    observations, `FrameReplay` (each frame once, uint8) for images, after
    checking it fits in memory."""
    spec = agent.collect_data_spec
    if spec.observation.shape.rank == 3:
        frame_shape = (
            *spec.observation.shape[:2],
            spec.observation.shape[-1] // frames_per_observation,
        )
        check_budget(capacity, frame_shape, num_envs=num_envs)
        return FrameReplay(spec, capacity, frames_per_observation, num_envs)
    return tf_uniform_replay_buffer.TFUniformReplayBuffer(
        data_spec=spec, batch_size=num_envs, max_length=capacity // num_envs
    )


def replay_nbytes(replay: tf_uniform_replay_buffer.TFUniformReplayBuffer | FrameReplay) -> int:
    """Bytes a replay memory holds (what a checkpoint of it writes)."""
    if isinstance(replay, FrameReplay):
        return replay.nbytes
    per_step = sum(s.shape.num_elements() * s.dtype.size for s in tf.nest.flatten(replay.data_spec))
    return int(replay.capacity) * per_step
