"""The reinforcement-learning pipeline: DqnTrainer -> PolicyEvaluator (against
ServedBaseline, the policy in production) -> atomic Pusher."""

from __future__ import annotations

import posixpath

from pipeline import params
from pipeline.params import maybe_runtime
from pipeline.rl_config import RlPipelineConfig

TRAINER_ID = "DqnTrainer"
BASELINE_ID = "ServedBaseline"
EVALUATOR_ID = "PolicyEvaluator"
PUSHER_ID = "Pusher"
CHECKPOINT_SUBDIR = "dqn_checkpoints"


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
    from tfx.orchestration.pipeline import Pipeline

    from components.atomic_pusher.component import create_pusher
    from components.dqn_trainer.component import DqnTrainer
    from components.policy_evaluator.component import PolicyEvaluator
    from components.served_baseline.component import ServedBaseline

    rp = runtime_parameters
    trainer = DqnTrainer(
        env_id=config.env_id,
        num_env_steps=maybe_runtime(params.ENV_STEPS, config.num_env_steps, int, rp),
        config_json=maybe_runtime(params.DQN_CONFIG, config.dqn_config.to_json(), str, rp),
        seed=config.seed,
        checkpoint_base=posixpath.join(config.pipeline_root, CHECKPOINT_SUBDIR),
        fresh=config.fresh,
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
    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=[trainer, baseline, evaluator, pusher],
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
    )
