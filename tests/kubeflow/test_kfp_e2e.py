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


def _examples_span(results) -> int:
    meta = _meta(results, "ImageExampleGen", "examples")
    # TFX records the resolved span as a custom property; KFP shows it prefixed.
    return int(meta.get("span", meta.get("custom:span")))


def _diff_metrics(evaluation_uri: str) -> set[str]:
    import tensorflow_model_analysis as tfma

    return {
        kv.key.name
        for metrics in tfma.load_metrics(evaluation_uri)
        for kv in metrics.metric_keys_and_values
        if kv.key.is_diff
    }


def test_image_pipeline_on_kfp_ingests_each_new_span_and_gates_on_the_served_model(tmp_path):
    from vrl import demo_data

    spans = tmp_path / "spans"
    demo_data.make_shapes(str(spans), per_class=12, seed=0, spans=2)
    data = tmp_path / "data"
    data.mkdir()
    os.rename(spans / "span-1", data / "span-1")
    serving = str(tmp_path / "models")
    package = _compile(
        tmp_path,
        "image",
        "--pipeline-root",
        str(tmp_path / "root"),
        "--serving-base",
        serving,
        "--data",
        str(data),
        "--epochs",
        "1",
        "--no-sanity-checks",
        "--image-size",
        "16",
        "--min-accuracy",
        "0",
        "--no-halt-on-anomalies",
        "--beam-arg=--direct_running_mode=in_memory",
        "--beam-arg=--direct_num_workers=1",
    )
    _assert_oss_runnable(package)
    spec, _ = kfp_local.load(package)
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["ImageExampleGen"]["cachingOptions"] == {"enableCache": False}
    trainer_label = spec["components"][tasks["Trainer"]["componentRef"]["name"]]["executorLabel"]
    resources = spec["deploymentSpec"]["executors"][trainer_label]["container"]["resources"]
    assert resources["cpuRequest"] > 0 and resources["memoryRequest"] > 0

    first = _run(package, "run-1", tmp_path)
    assert _examples_span(first) == 1
    assert _meta(first, "ServedBaseline", "model")["served_present"] == 0
    assert _meta(first, "Pusher", "pushed_model")["pushed"] == 1
    model_dir = os.path.join(serving, "image_classifier")
    (v1,) = complete_versions(model_dir)

    # New data arrives as a new span; the next scheduled run picks it up and
    # compares its model with the one in production.
    os.rename(spans / "span-2", data / "span-2")
    second = _run(package, "run-2", tmp_path, params={"max_accuracy_drop": 1.0})
    assert _examples_span(second) == 2
    baseline = _meta(second, "ServedBaseline", "model")
    assert baseline["served_present"] == 1 and baseline["served_version"] == v1
    evaluation = second["Evaluator"].outputs["evaluation"][0]["uri"]
    assert "sparse_categorical_accuracy" in _diff_metrics(evaluation)  # compared with v1
    assert _meta(second, "Evaluator", "blessing")["blessed"] == 1
    assert complete_versions(model_dir)[0] == v1 and len(complete_versions(model_dir)) == 2
