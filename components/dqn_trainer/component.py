"""DqnTrainer: a custom TFX component that trains a TF-Agents DQN policy."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.dqn_trainer import constants
from components.dqn_trainer.executor import Executor


class DqnTrainerSpec(types.ComponentSpec):
    """Parameters: gymnasium env id, env-step budget, DqnConfig JSON, seed,
    checkpoint base folder. Outputs: the policy Model and its ModelRun logs."""

    PARAMETERS = {
        constants.ENV_ID_KEY: ExecutionParameter(type=str),
        constants.NUM_ENV_STEPS_KEY: ExecutionParameter(type=int),
        constants.CONFIG_JSON_KEY: ExecutionParameter(type=str),
        constants.SEED_KEY: ExecutionParameter(type=int),
        constants.CHECKPOINT_BASE_KEY: ExecutionParameter(type=str, optional=True),
        constants.FRESH_KEY: ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {
        constants.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        constants.MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
    }


class DqnTrainer(base_component.BaseComponent):
    """Trains a DQN / Double-DQN policy on a gymnasium env and exports it.

    The Model artifact holds the best-scoring greedy policy as a SavedModel
    under `Format-Serving/` (so TFX's Pusher finds it) plus the evaluation
    history; checkpoints go under `checkpoint_base` so a killed run resumes.
    """

    SPEC_CLASS = DqnTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        env_id: str,
        num_env_steps: int,
        config_json: str,
        seed: int = 0,
        checkpoint_base: str = "",
        fresh: bool = False,
    ):
        """Args: env_id (gymnasium id), num_env_steps (budget), config_json
        (`DqnConfig.to_json()`), seed, checkpoint_base (folder for resumable
        checkpoints; empty keeps them inside the execution's output), fresh
        (delete the checkpoints of a previous run with the same env, seed and
        config and start over, instead of continuing it)."""
        spec = DqnTrainerSpec(
            env_id=env_id,
            num_env_steps=num_env_steps,
            config_json=config_json,
            seed=seed,
            checkpoint_base=checkpoint_base,
            fresh=int(fresh),
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun),
        )
        super().__init__(spec=spec)
