"""Configuration of the reinforcement-learning pipeline (one frozen dataclass,
the DQN's hyperparameters nested in it)."""

from __future__ import annotations

import dataclasses
import re

from contracts.names import MODEL_NAME, PIPELINE_NAME
from models.dqn.config import DqnConfig, preset
from models.fields import SEED_LIMIT, normalize, problems, setting

# gymnasium ids: [namespace/]name[-vN], optionally "module:" first; whether the id
# is registered is checked by the local runner (it needs gymnasium).
ENV_ID = re.compile(r"([\w.]+:)?([\w.-]+/)?[\w.-]+")
MAX_ENV_STEPS = 100_000_000
MAX_EVAL_EPISODES = 10_000


def default_model_name(env_id: str) -> str:
    """Serving model name derived from the env id: 'CartPole-v1' -> 'dqn_cartpole_v1'."""
    return "dqn_" + re.sub(r"[^a-z0-9]+", "_", env_id.lower()).strip("_")


def default_pipeline_name(env_id: str) -> str:
    """Pipeline name per env, so each env's runs keep their own blessed baseline:
    'CartPole-v1' -> 'vrl-rl-cartpole-v1'."""
    return "vrl-rl-" + re.sub(r"[^a-z0-9]+", "-", env_id.lower()).strip("-")


@dataclasses.dataclass(frozen=True)
class RlPipelineConfig:
    """Everything `create_rl_pipeline` needs; defaults in one place, the DQN's in
    `dqn_config` (models/dqn/config.py)."""

    pipeline_root: str = setting(nonempty=True)
    """Folder for the pipeline's artifacts, metadata and DQN checkpoints."""
    serving_base: str = setting(nonempty=True)
    """TF Serving base path; policies go to <serving_base>/<model_name>/<version>/."""
    pipeline_name: str = setting("", pattern=PIPELINE_NAME.pattern, why="(Kubeflow's rule)")
    """TFX pipeline name; empty derives it from env_id ('vrl-rl-cartpole-v1')."""
    env_id: str = setting(
        "CartPole-v1", pattern=ENV_ID.pattern, why="(a gymnasium id such as 'CartPole-v1')"
    )
    """gymnasium id of a discrete-action environment with a vector or image
    observation (Atari 'ALE/Pong-v5', MinAtar 'MinAtar/Breakout-v1')."""
    model_name: str = setting("", pattern=MODEL_NAME.pattern, why="(it names the serving folder)")
    """Serving model name; empty derives it from env_id ('dqn_cartpole_v1')."""
    num_env_steps: int = setting(50_000, kind=int, low=1, high=MAX_ENV_STEPS)
    """Training budget in environment steps (training stops early once solved)."""
    seed: int = setting(0, kind=int, low=0, high=SEED_LIMIT, high_open=True)
    """Training seed."""
    eval_episodes: int = setting(20, kind=int, low=1, high=MAX_EVAL_EPISODES)
    """Episodes the PolicyEvaluator runs (at dqn_config.eval_epsilon, capped at
    dqn_config.max_episode_frames)."""
    eval_seed: int = setting(1_000, kind=int, low=0, high=SEED_LIMIT, high_open=True)
    """Seed of the PolicyEvaluator's first episode (episode i uses eval_seed + i)."""
    threshold: float | None = setting(None, kind=float, optional=True)
    """Blessing threshold on mean return; None uses the env's reward_threshold, or none
    for envs that register none (MinAtar, Atari). Either way a policy is blessed only
    if it trained and beats a random policy, and not below the served one."""
    max_regression: float = setting(0.05, kind=float, low=0.0, high=1.0)
    """Allowed drop below the latest blessed policy's mean, as a fraction of it."""
    baseline_label: str = setting("")
    """Version label in the serving base's model config (<serving_base>/models.config)
    that names the model in production, the baseline a candidate is gated against;
    empty takes 'stable' when the model has labels, else the version policy's choice
    (without a config: the newest pushed version)."""
    fresh: bool = setting(False, kind=bool)
    """Start DQN training over, deleting the checkpoints a previous run with the same
    env, seed and DQN config left; by default such a run continues them (and says so)."""
    enable_cache: bool = setting(True, kind=bool)
    """TFX caching of component executions."""
    dqn_config: DqnConfig = dataclasses.field(default_factory=DqnConfig)
    """DQN hyperparameters (see models/dqn/config.py and its presets)."""

    def __post_init__(self) -> None:
        if not self.pipeline_name:
            object.__setattr__(self, "pipeline_name", default_pipeline_name(self.env_id))
        if not self.model_name:
            object.__setattr__(self, "model_name", default_model_name(self.env_id))
        normalize(self)
        found = problems(self)
        if not isinstance(self.dqn_config, DqnConfig):
            found.append(
                f"dqn_config must be a models.dqn.config.DqnConfig, got {self.dqn_config!r}"
            )
        if not found and self.eval_seed + self.eval_episodes >= SEED_LIMIT:
            found.append(f"eval_seed must be < 2**32 - eval_episodes, got {self.eval_seed}")
        if found:
            raise ValueError("; ".join(f"RlPipelineConfig.{p}" for p in found))

    @classmethod
    def for_env(cls, env_id: str, **overrides) -> RlPipelineConfig:
        """Config with the env's named DQN preset (the default config if none)."""
        overrides.setdefault("dqn_config", preset(env_id))
        return cls(env_id=env_id, **overrides)
