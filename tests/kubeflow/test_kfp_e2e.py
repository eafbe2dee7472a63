"""Both pipelines compiled for open-source Kubeflow Pipelines and every task run
as KFP's driver and launcher would run it (see kfp_local), in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from components.atomic_pusher.ops import complete_versions
from kubeflow import kfp_local

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IMAGE = "registry.example/vision-rl-pipeline@sha256:0123"


def _compile(tmp_path, *argv: str) -> str:
    out = str(tmp_path / f"{argv[0]}.yaml")
    env = kfp_local.pod_env()
    cmd = [sys.executable, "-m", "vrl.cli", "compile", *argv, "--out", out, "--image", IMAGE]
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    return out


def _assert_oss_runnable(package: str) -> None:
    spec, _ = kfp_local.load(package)
    assert spec["schemaVersion"] == "2.1.0"
    kinds = {k for e in spec["deploymentSpec"]["executors"].values() for k in e}
    assert kinds == {"container"}, kinds  # no resolver / importer executors


def _run(package, run_id, tmp_path, params=None):
    results = kfp_local.run_pipeline(
        package, run_id, str(tmp_path / "kfp"), params=params, env=kfp_local.pod_env()
    )
    failed = {n: r.log[-3000:] for n, r in results.items() if r.returncode}
    assert not failed, failed
    spec, _ = kfp_local.load(package)
    assert set(results) == set(spec["root"]["dag"]["tasks"])  # every task ran
    return results


def _meta(results, task, key):
    return results[task].outputs[key][0]["metadata"]


def test_rl_pipeline_runs_on_kfp_and_the_second_run_gates_on_the_served_policy(tmp_path):
    serving = str(tmp_path / "models")
    package = _compile(
        tmp_path,
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
    _assert_oss_runnable(package)
    first = _run(package, "run-1", tmp_path)
    assert _meta(first, "ServedBaseline", "model")["served_present"] == 0
    version = int(_meta(first, "Pusher", "pushed_model")["pushed_version"])
    model_dir = os.path.join(serving, "dqn_cartpole_v1")
    assert complete_versions(model_dir) == [version]
    assert os.path.isfile(os.path.join(model_dir, str(version), "saved_model.pb"))

    # A second run (more steps, set per run) compares with the policy in production.
    second = _run(package, "run-2", tmp_path, params={"env_steps": 600})
    baseline = _meta(second, "ServedBaseline", "model")
    assert baseline["served_present"] == 1 and baseline["served_version"] == version
    assert _meta(second, "DqnTrainer", "model")["env_steps"] <= 600
    with open(
        os.path.join(second["PolicyEvaluator"].outputs["evaluation"][0]["uri"], "report.json")
    ) as f:
        report = json.load(f)
    assert report["baseline_mean_return"] is not None
