"""A tiny DQN config so smoke runs take seconds."""

import pytest

from models.dqn.config import DqnConfig


@pytest.fixture
def tiny_config() -> DqnConfig:
    return DqnConfig(
        hidden_units=(32,),
        replay_capacity=2_000,
        learning_starts=100,
        train_freq=50,
        gradient_steps=10,
        target_update_period=20,
        epsilon_decay_steps=300,
        eval_interval=300,
        eval_episodes=3,
    )
