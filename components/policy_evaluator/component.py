"""PolicyEvaluator: a custom TFX component that gates a DQN policy."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.policy_evaluator import constants
from components.policy_evaluator.executor import Executor


class PolicyEvaluatorSpec(types.ComponentSpec):
    """Inputs: the candidate Model and an optional blessed baseline Model."""

    PARAMETERS = {
        constants.ENV_ID_KEY: ExecutionParameter(type=str),
        constants.NUM_EPISODES_KEY: ExecutionParameter(type=int),
        constants.SEED_KEY: ExecutionParameter(type=int),
        constants.THRESHOLD_KEY: ExecutionParameter(type=float, optional=True),
        constants.MAX_REGRESSION_KEY: ExecutionParameter(type=float),
        constants.EPSILON_KEY: ExecutionParameter(type=float, optional=True),
        constants.MAX_EPISODE_FRAMES_KEY: ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        constants.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        constants.BASELINE_MODEL_KEY: ChannelParameter(
            type=standard_artifacts.Model, optional=True
        ),
    }
    OUTPUTS = {
        constants.BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        constants.EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
    }


class PolicyEvaluator(base_component.BaseComponent):
    """Runs seeded (epsilon-)greedy episodes and writes a ModelBlessing.

    Blesses only a policy that trained (its network had a gradient update) and
    beats a uniformly random policy on the same seeds, when its mean return
    reaches `threshold` (default: the env's registered reward threshold; with
    none, no threshold) and is not worse than the baseline's mean on the same
    seeds by more than `max_regression` (a fraction of |baseline|). Says why
    in one line either way.
    """

    SPEC_CLASS = PolicyEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        env_id: str,
        baseline_model: types.BaseChannel | None = None,
        num_episodes: int = 20,
        seed: int = 0,
        threshold: float | None = None,
        max_regression: float = 0.05,
        epsilon: float = 0.0,
        max_episode_frames: int = 0,
    ):
        """Args: model, env_id, baseline_model (a ServedBaseline output; empty: no
        baseline), num_episodes, seed, threshold (None: env's reward
        threshold), max_regression (allowed drop below the baseline, fraction),
        epsilon (random-action probability), max_episode_frames (episode cap
        in emulator frames; 0: the env's own)."""
        spec = PolicyEvaluatorSpec(
            model=model,
            baseline_model=baseline_model,
            env_id=env_id,
            num_episodes=num_episodes,
            seed=seed,
            threshold=threshold,
            max_regression=max_regression,
            epsilon=epsilon,
            max_episode_frames=max_episode_frames,
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        )
        super().__init__(spec=spec)
