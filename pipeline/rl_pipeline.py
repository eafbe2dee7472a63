"""The reinforcement-learning pipeline: DqnTrainer -> PolicyEvaluator (against
ServedBaseline, the policy in production) -> atomic Pusher."""

from __future__ import annotations

import dataclasses
import posixpath
import re

from models.dqn.config import DqnConfig, preset
from pipeline.params import maybe_runtime

TRAINER_ID = "DqnTrainer"
BASELINE_ID = "ServedBaseline"
EVALUATOR_ID = "PolicyEvaluator"
PUSHER_ID = "Pusher"
CHECKPOINT_SUBDIR = "dqn_checkpoints"
_PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")


def default_model_name(env_id: str) -> str:
    """Serving model name derived from the env id: 'CartPole-v1' -> 'dqn_cartpole_v1'."""
    return "dqn_" + re.sub(r"[^a-z0-9]+", "_", env_id.lower()).strip("_")


def default_pipeline_name(env_id: str) -> str:
    """Pipeline name per env, so each env's runs keep their own blessed baseline:
    'CartPole-v1' -> 'vrl-rl-cartpole-v1'."""
    return "vrl-rl-" + re.sub(r"[^a-z0-9]+", "-", env_id.lower()).strip("-")


@dataclasses.dataclass(frozen=True)
class RlPipelineConfig:
    """Everything `create_rl_pipeline` needs; defaults in one place."""

    pipeline_root: str
    """Folder for the pipeline's artifacts, metadata and DQN checkpoints."""
    serving_base: str
    """TF Serving base path; policies go to <serving_base>/<model_name>/<version>/."""
    pipeline_name: str = ""
    """TFX pipeline name; empty derives it from env_id ('vrl-rl-cartpole-v1').
    Kubeflow needs [a-z0-9][a-z0-9-]*."""
    env_id: str = "CartPole-v1"
    """gymnasium id of a discrete-action, vector-observation environment."""
    model_name: str = ""
    """Serving model name; empty derives it from env_id ('dqn_cartpole_v1')."""
    num_env_steps: int = 50_000
    """Training budget in environment steps (training stops early once solved)."""
    seed: int = 0
    """Training seed."""
    dqn_config: DqnConfig = dataclasses.field(default_factory=DqnConfig)
    """DQN hyperparameters (see models/dqn/config.py and its presets)."""
    eval_episodes: int = 20
    """Greedy episodes the PolicyEvaluator runs."""
    eval_seed: int = 1_000
    """Seed of the PolicyEvaluator's first episode (episode i uses eval_seed + i)."""
    threshold: float | None = None
    """Blessing threshold on mean return; None uses the env's reward_threshold."""
    max_regression: float = 0.05
    """Allowed drop below the latest blessed policy's mean, as a fraction of it."""
    enable_cache: bool = True
    """TFX caching of component executions."""

    def __post_init__(self) -> None:
        if not self.pipeline_name:
            object.__setattr__(self, "pipeline_name", default_pipeline_name(self.env_id))
        if not _PIPELINE_NAME.fullmatch(self.pipeline_name):
            raise ValueError(
                f"RlPipelineConfig.pipeline_name {self.pipeline_name!r} must match "
                f"{_PIPELINE_NAME.pattern} (Kubeflow's rule), e.g. 'vrl-rl-cartpole-v1'"
            )
        if not self.model_name:
            object.__setattr__(self, "model_name", default_model_name(self.env_id))
        if self.num_env_steps <= 0 or self.eval_episodes <= 0:
            raise ValueError(
                "RlPipelineConfig.num_env_steps and eval_episodes must be > 0, got "
                f"{self.num_env_steps} and {self.eval_episodes}"
            )

    @classmethod
    def for_env(cls, env_id: str, **overrides) -> RlPipelineConfig:
        """Config with the env's named DQN preset (the default config if none)."""
        overrides.setdefault("dqn_config", preset(env_id))
        return cls(env_id=env_id, **overrides)


def create_rl_pipeline(
    config: RlPipelineConfig,
    beam_pipeline_args: list[str] | None = None,
    metadata_connection_config=None,
    runtime_parameters: bool = False,
):
    """Wires DqnTrainer -> PolicyEvaluator (against ServedBaseline) -> Pusher
    into a `tfx.dsl.Pipeline`.

    With `runtime_parameters` (Kubeflow), env_steps, dqn_config (JSON),
    eval_episodes and max_regression become pipeline parameters defaulting to
    the config's values.

    The local runner passes `vrl.runner.local_metadata_config(root)`; the Kubeflow
    compiler passes none (the cluster supplies ML Metadata). No component
    uses Beam; `beam_pipeline_args` is accepted so both pipelines are called
    the same way.
    """
    from tfx import v1 as tfx

    from components.atomic_pusher.component import create_pusher
    from components.dqn_trainer.component import DqnTrainer
    from components.policy_evaluator.component import PolicyEvaluator
    from components.served_baseline.component import ServedBaseline

    rp = runtime_parameters
    trainer = DqnTrainer(
        env_id=config.env_id,
        num_env_steps=maybe_runtime("env_steps", config.num_env_steps, int, rp),
        config_json=maybe_runtime("dqn_config", config.dqn_config.to_json(), str, rp),
        seed=config.seed,
        checkpoint_base=posixpath.join(config.pipeline_root, CHECKPOINT_SUBDIR),
    ).with_id(TRAINER_ID)
    baseline = ServedBaseline(
        model_dir=posixpath.join(config.serving_base, config.model_name)
    ).with_id(BASELINE_ID)
    evaluator = PolicyEvaluator(
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        env_id=config.env_id,
        num_episodes=maybe_runtime("eval_episodes", config.eval_episodes, int, rp),
        seed=config.eval_seed,
        threshold=config.threshold,
        max_regression=maybe_runtime("max_regression", config.max_regression, float, rp),
    ).with_id(EVALUATOR_ID)
    pusher = create_pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        serving_base=config.serving_base,
        model_name=config.model_name,
    ).with_id(PUSHER_ID)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=[trainer, baseline, evaluator, pusher],
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
    )
