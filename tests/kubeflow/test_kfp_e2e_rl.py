"""The RL pipeline compiled for open-source Kubeflow Pipelines with KFP's default
root, submitted by the real kfp.Client to the API stand-in, then every task run
as KFP's driver and launcher would run it (see kfp_local) against the S3
server standing in for the stock install's MinIO."""

from __future__ import annotations

import json
import os

import pytest

from contracts.serving_base import complete_versions
from kubeflow.objectstore import DEFAULT_PIPELINE_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_rl_pipeline_on_kfps_default_minio_root_retrains_each_run_and_gates(
    tmp_path, s3_server, kfp_api, kfp_e2e
):
    import kfp

    serving = str(tmp_path / "models")
    package = kfp_e2e.compile(
        "rl",
        "--serving-base",
        serving,
        # The default CartPole config has learned by 2,500 steps (seed 0's greedy
        # policy scores about 140, a random one about 20); only a policy that trained
        # and beats random is pushed.
        "--steps",
        "2500",
        "--dqn-eval-episodes",
        "2",
        "--eval-episodes",
        "2",
        "--threshold",
        "0",
        "--gpu",
        "nvidia-tesla-t4:1",
    )
    # A user's own kfp.Client call, with no root: the backend then uses its default.
    client = kfp.Client(host=f"http://127.0.0.1:{kfp_api.server_port}")
    client.create_run_from_pipeline_package(package, arguments={})
    (body,) = [b for m, p, b in kfp_api.requests if p == "/apis/v2beta1/runs"]
    root = body["runtime_config"].get("pipeline_root")
    assert root is None

    first = kfp_e2e.run(package, "run-1", pipeline_root=root)
    assert kfp_e2e.meta(first, "ServedBaseline", "model")["served_present"] == 0
    version = int(kfp_e2e.meta(first, "Pusher", "pushed_model")["pushed_version"])
    model_dir = os.path.join(serving, "dqn_cartpole_v1")
    assert complete_versions(model_dir) == [version]
    assert os.path.isfile(os.path.join(model_dir, str(version), "saved_model.pb"))
    # The blessing names the model it blessed, as TFX's Evaluator blessing does on KFP.
    blessing = kfp_e2e.meta(first, "PolicyEvaluator", "blessing")
    assert blessing["current_model_id"] == first["DqnTrainer"].outputs["model"][0]["name"]
    policy_uri = first["DqnTrainer"].outputs["model"][0]["uri"]
    assert policy_uri.startswith(f"{DEFAULT_PIPELINE_ROOT}/vrl-rl-cartpole-v1/run-1/")

    # The next scheduled run, same parameters: the trainer is never served from
    # the cache, so it trains again, and the result is compared with production.
    second = kfp_e2e.run(package, "run-2", pipeline_root=root)
    assert {"DqnTrainer", "PolicyEvaluator", "ServedBaseline"} <= kfp_e2e.executed(second)
    baseline = kfp_e2e.meta(second, "ServedBaseline", "model")
    assert baseline["served_present"] == 1 and baseline["served_version"] == version
    evaluation = str(tmp_path / "evaluation")
    assert s3_server.download(second["PolicyEvaluator"].outputs["evaluation"][0]["uri"], evaluation)
    with open(os.path.join(evaluation, "report.json")) as f:
        report = json.load(f)
    assert report["baseline_mean_return"] is not None
