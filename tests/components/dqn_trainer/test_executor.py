"""DqnTrainer and PolicyEvaluator executors on ram:// URIs: every file they touch
goes through gfile, so the same code runs on gs://, s3:// and mounted paths."""

import json

import pytest
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts

from components.dqn_trainer import constants as trainer_keys
from components.dqn_trainer.executor import Executor as TrainerExecutor
from components.policy_evaluator import constants as eval_keys
from components.policy_evaluator.executor import Executor as EvaluatorExecutor
from contracts.files import POLICY_OBSERVATION_STATS_FILE, TRAINING_SUMMARY_FILE
from models.dqn.config import DqnConfig

TINY = DqnConfig(
    hidden_units=(16,),
    replay_capacity=1_000,
    learning_starts=100,
    train_freq=50,
    gradient_steps=5,
    target_update_period=10,
    epsilon_decay_steps=200,
    eval_interval=200,
    eval_episodes=2,
)


def _artifact(cls, uri):
    artifact = cls()
    artifact.uri = uri
    return artifact


@pytest.mark.slow
def test_trainer_and_evaluator_run_entirely_on_ram_uris():
    root = "ram://dqn-exec"
    model = _artifact(standard_artifacts.Model, f"{root}/model")
    model_run = _artifact(standard_artifacts.ModelRun, f"{root}/model_run")
    TrainerExecutor().Do(
        {},
        {trainer_keys.MODEL_KEY: [model], trainer_keys.MODEL_RUN_KEY: [model_run]},
        {
            trainer_keys.ENV_ID_KEY: "CartPole-v1",
            trainer_keys.NUM_ENV_STEPS_KEY: 400,
            trainer_keys.CONFIG_JSON_KEY: TINY.to_json(),
            trainer_keys.SEED_KEY: 0,
            trainer_keys.CHECKPOINT_BASE_KEY: f"{root}/checkpoints",
        },
    )
    assert fileio.exists(f"{model.uri}/Format-Serving/saved_model.pb")
    assert fileio.exists(f"{model.uri}/Format-Serving/assets.extra/tf_serving_warmup_requests")
    assert fileio.glob(f"{root}/checkpoints/*")

    empty_baseline = _artifact(standard_artifacts.Model, f"{root}/baseline")  # nothing served
    blessing = _artifact(standard_artifacts.ModelBlessing, f"{root}/blessing")
    evaluation = _artifact(standard_artifacts.ModelEvaluation, f"{root}/evaluation")
    EvaluatorExecutor().Do(
        {eval_keys.MODEL_KEY: [model], eval_keys.BASELINE_MODEL_KEY: [empty_baseline]},
        {eval_keys.BLESSING_KEY: [blessing], eval_keys.EVALUATION_KEY: [evaluation]},
        {
            eval_keys.ENV_ID_KEY: "CartPole-v1",
            eval_keys.NUM_EPISODES_KEY: 2,
            eval_keys.SEED_KEY: 5,
            eval_keys.THRESHOLD_KEY: 0.0,
            eval_keys.MAX_REGRESSION_KEY: 0.05,
        },
    )
    with fileio.open(f"{evaluation.uri}/report.json") as f:
        report = json.load(f)
    assert len(report["returns"]) == 2 and report["baseline_mean_return"] is None
    # What the episodes showed the policy, for vrl monitor (written through gfile too).
    assert fileio.exists(f"{evaluation.uri}/{POLICY_OBSERVATION_STATS_FILE}")
    # 400 steps past learning_starts 100: the exported network trained.
    assert report["gradient_updates"] > 0
    with fileio.open(f"{model.uri}/{TRAINING_SUMMARY_FILE}") as f:
        summary = json.load(f)
    assert summary["replay_transitions"] == 400  # the budget, not the 1,000 capacity
    # Blessed exactly when it beats the random policy run on the same episodes.
    assert report["blessed"] == (report["mean_return"] > report["random_mean_return"])
    assert blessing.get_int_custom_property("blessed") == int(report["blessed"])
    marker = "BLESSED" if report["blessed"] else "NOT_BLESSED"
    with fileio.open(f"{blessing.uri}/{marker}") as f:
        assert f.read() == report["reason"] + "\n"
