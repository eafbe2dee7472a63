"""The reinforcement-learning pipeline: DqnTrainer -> PolicyEvaluator (against
ServedBaseline, the policy in production) -> atomic Pusher."""

from __future__ import annotations

import dataclasses
import math
import posixpath
import re

from contracts.names import MODEL_NAME, PIPELINE_NAME
from models.dqn.config import DqnConfig, preset
from pipeline.params import maybe_runtime

TRAINER_ID = "DqnTrainer"
BASELINE_ID = "ServedBaseline"
EVALUATOR_ID = "PolicyEvaluator"
PUSHER_ID = "Pusher"
CHECKPOINT_SUBDIR = "dqn_checkpoints"
# gymnasium ids: [namespace/]name[-vN], optionally "module:" first; whether the id
# is registered is checked by the local runner (it needs gymnasium).
_ENV_ID = re.compile(r"([\w.]+:)?([\w.-]+/)?[\w.-]+")
MAX_ENV_STEPS = 100_000_000
MAX_EVAL_EPISODES = 10_000
SEED_LIMIT = 2**32


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
    """gymnasium id of a discrete-action environment with a vector or image
    observation (Atari 'ALE/Pong-v5', MinAtar 'MinAtar/Breakout-v1')."""
    model_name: str = ""
    """Serving model name; empty derives it from env_id ('dqn_cartpole_v1')."""
    num_env_steps: int = 50_000
    """Training budget in environment steps (training stops early once solved)."""
    seed: int = 0
    """Training seed."""
    dqn_config: DqnConfig = dataclasses.field(default_factory=DqnConfig)
    """DQN hyperparameters (see models/dqn/config.py and its presets)."""
    eval_episodes: int = 20
    """Episodes the PolicyEvaluator runs (at dqn_config.eval_epsilon, capped at
    dqn_config.max_episode_frames)."""
    eval_seed: int = 1_000
    """Seed of the PolicyEvaluator's first episode (episode i uses eval_seed + i)."""
    threshold: float | None = None
    """Blessing threshold on mean return; None uses the env's reward_threshold,
    or, for envs that register none (MinAtar, Atari), the served policy alone."""
    max_regression: float = 0.05
    """Allowed drop below the latest blessed policy's mean, as a fraction of it."""
    baseline_label: str = ""
    """Version label in the serving base's model config (<serving_base>/models.config)
    that names the model in production, the baseline a candidate is gated against;
    empty takes 'stable' when the model has labels, else the version policy's choice
    (without a config: the newest pushed version)."""
    enable_cache: bool = True
    """TFX caching of component executions."""

    def __post_init__(self) -> None:
        if not self.pipeline_name:
            object.__setattr__(self, "pipeline_name", default_pipeline_name(self.env_id))
        if not PIPELINE_NAME.fullmatch(self.pipeline_name):
            raise ValueError(
                f"RlPipelineConfig.pipeline_name {self.pipeline_name!r} must match "
                f"{PIPELINE_NAME.pattern} (Kubeflow's rule), e.g. 'vrl-rl-cartpole-v1'"
            )
        if not self.model_name:
            object.__setattr__(self, "model_name", default_model_name(self.env_id))
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(f"RlPipelineConfig.{p}" for p in problems))

    @classmethod
    def for_env(cls, env_id: str, **overrides) -> RlPipelineConfig:
        """Config with the env's named DQN preset (the default config if none)."""
        overrides.setdefault("dqn_config", preset(env_id))
        return cls(env_id=env_id, **overrides)


def _problems(c: RlPipelineConfig) -> list[str]:
    """One line per invalid field: '<field> must be ..., got ...' (empty when valid)."""

    def is_int(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def finite(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    checks = [
        ("pipeline_root", bool(c.pipeline_root), "must name a folder or URI"),
        ("serving_base", bool(c.serving_base), "must name a folder or URI"),
        (
            "env_id",
            bool(_ENV_ID.fullmatch(c.env_id)),
            "must be a gymnasium id such as 'CartPole-v1'",
        ),
        (
            "pipeline_name",
            bool(PIPELINE_NAME.fullmatch(c.pipeline_name)),
            f"must match {PIPELINE_NAME.pattern} (Kubeflow's rule), e.g. 'vrl-rl-cartpole-v1'",
        ),
        (
            "model_name",
            bool(MODEL_NAME.fullmatch(c.model_name)),
            f"must match {MODEL_NAME.pattern} (it names the serving folder)",
        ),
        (
            "num_env_steps",
            is_int(c.num_env_steps) and 1 <= c.num_env_steps <= MAX_ENV_STEPS,
            f"must be an int in [1, {MAX_ENV_STEPS:_}]",
        ),
        ("seed", is_int(c.seed) and 0 <= c.seed < SEED_LIMIT, "must be an int in [0, 2**32)"),
        (
            "eval_episodes",
            is_int(c.eval_episodes) and 1 <= c.eval_episodes <= MAX_EVAL_EPISODES,
            f"must be an int in [1, {MAX_EVAL_EPISODES:_}]",
        ),
        (
            "eval_seed",
            is_int(c.eval_seed)
            and 0 <= c.eval_seed
            and c.eval_seed + (c.eval_episodes if is_int(c.eval_episodes) else 0) < SEED_LIMIT,
            "must be an int in [0, 2**32 - eval_episodes)",
        ),
        ("threshold", c.threshold is None or finite(c.threshold), "must be a finite number"),
        (
            "max_regression",
            finite(c.max_regression) and 0.0 <= c.max_regression <= 1.0,
            "must be a fraction in [0, 1]",
        ),
        (
            "dqn_config",
            isinstance(c.dqn_config, DqnConfig),
            "must be a models.dqn.config.DqnConfig",
        ),
    ]
    return [
        f"{name} {expected}, got {getattr(c, name)!r}" for name, ok, expected in checks if not ok
    ]


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
    # TFX and the components load when a pipeline is wired, not when the config
    # is imported: `vrl rl --help` builds its flags from this module.
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
        model_dir=posixpath.join(config.serving_base, config.model_name),
        label=config.baseline_label,
    ).with_id(BASELINE_ID)
    evaluator = PolicyEvaluator(
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        env_id=config.env_id,
        num_episodes=maybe_runtime("eval_episodes", config.eval_episodes, int, rp),
        seed=config.eval_seed,
        threshold=config.threshold,
        max_regression=maybe_runtime("max_regression", config.max_regression, float, rp),
        epsilon=config.dqn_config.eval_epsilon,
        max_episode_frames=config.dqn_config.max_episode_frames,
    ).with_id(EVALUATOR_ID)
    pusher = create_pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        serving_base=config.serving_base,
        model_name=config.model_name,
        pipeline_name=config.pipeline_name,
        kind="rl",
        evaluation=evaluator.outputs["evaluation"],
    ).with_id(PUSHER_ID)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=[trainer, baseline, evaluator, pusher],
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
    )
