"""The RL pipeline compiled for open-source Kubeflow Pipelines, every task run as
KFP's driver and launcher would run it (see kfp_local), in subprocesses."""

from __future__ import annotations

import json
import os

import pytest

from contracts.serving_base import complete_versions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_rl_pipeline_runs_on_kfp_and_the_second_run_gates_on_the_served_policy(tmp_path, kfp_e2e):
    serving = str(tmp_path / "models")
    package = kfp_e2e.compile(
        "rl",
        "--pipeline-root",
        str(tmp_path / "root"),
        "--serving-base",
        serving,
        "--steps",
        "400",
        "--dqn",
        "hidden_units=[16]",
        "--dqn",
        "learning_starts=100",
        "--dqn",
        "train_freq=50",
        "--dqn",
        "gradient_steps=5",
        "--dqn",
        "eval_interval=200",
        "--dqn",
        "eval_episodes=2",
        "--eval-episodes",
        "2",
        "--threshold",
        "0",
        "--gpu",
        "nvidia-tesla-t4:1",
    )
    first = kfp_e2e.run(package, "run-1")
    assert kfp_e2e.meta(first, "ServedBaseline", "model")["served_present"] == 0
    version = int(kfp_e2e.meta(first, "Pusher", "pushed_model")["pushed_version"])
    model_dir = os.path.join(serving, "dqn_cartpole_v1")
    assert complete_versions(model_dir) == [version]
    assert os.path.isfile(os.path.join(model_dir, str(version), "saved_model.pb"))

    # A second run (more steps, set per run) compares with the policy in production.
    second = kfp_e2e.run(package, "run-2", params={"env_steps": 600})
    baseline = kfp_e2e.meta(second, "ServedBaseline", "model")
    assert baseline["served_present"] == 1 and baseline["served_version"] == version
    assert kfp_e2e.meta(second, "DqnTrainer", "model")["env_steps"] <= 600
    with open(
        os.path.join(second["PolicyEvaluator"].outputs["evaluation"][0]["uri"], "report.json")
    ) as f:
        report = json.load(f)
    assert report["baseline_mean_return"] is not None
