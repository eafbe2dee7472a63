"""RL pipeline: construction, Kubeflow V2 compile, CLI wiring, one local run."""

import glob
import json
import os
import pathlib
import subprocess
import sys

import pytest

from pipeline.rl_config import RlPipelineConfig, default_model_name
from pipeline.rl_pipeline import (
    BASELINE_ID,
    EVALUATOR_ID,
    PUSHER_ID,
    TRAINER_ID,
    create_rl_pipeline,
)
from vrl.runner import local_metadata_config


def _config(tmp_path, **overrides) -> RlPipelineConfig:
    return RlPipelineConfig(
        pipeline_root=str(tmp_path / "tfx" / "vrl-rl-cartpole-v1"),
        serving_base=str(tmp_path / "serving"),
        **overrides,
    )


def test_model_name_is_derived_from_the_env_id(tmp_path):
    assert default_model_name("CartPole-v1") == "dqn_cartpole_v1"
    assert _config(tmp_path, env_id="MountainCar-v0").model_name == "dqn_mountaincar_v0"
    assert _config(tmp_path, model_name="custom").model_name == "custom"
    assert _config(tmp_path).pipeline_name == "vrl-rl-cartpole-v1"
    assert _config(tmp_path, env_id="Acrobot-v1").pipeline_name == "vrl-rl-acrobot-v1"


def test_pipeline_name_must_be_kubeflow_legal(tmp_path):
    with pytest.raises(ValueError, match="pipeline_name must be .* got 'vrl_rl'"):
        _config(tmp_path, pipeline_name="vrl_rl")


def test_pipeline_wires_trainer_resolver_evaluator_pusher(tmp_path):
    config = _config(tmp_path)
    pipeline = create_rl_pipeline(
        config, metadata_connection_config=local_metadata_config(config.pipeline_root)
    )
    assert [c.id for c in pipeline.components] == [TRAINER_ID, BASELINE_ID, EVALUATOR_ID, PUSHER_ID]
    evaluator = pipeline.components[2]
    assert evaluator.inputs["baseline_model"].producer_component_id == BASELINE_ID
    assert pipeline.components[3].inputs["model_blessing"].producer_component_id == EVALUATOR_ID
    assert pipeline.enable_cache
    assert pipeline.metadata_connection_config.sqlite.filename_uri.endswith("metadata.sqlite")


def test_same_pipeline_compiles_for_kubeflow_v2_to_a_valid_pipeline_spec(tmp_path):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfv2

    config = _config(tmp_path)
    os.makedirs(config.pipeline_root)
    runner = kfv2.KubeflowV2DagRunner(
        config=kfv2.KubeflowV2DagRunnerConfig(default_image="vrl:test"),
        output_dir=str(tmp_path),
        output_filename="rl.json",
    )
    runner.run(create_rl_pipeline(config))

    job = json.loads((tmp_path / "rl.json").read_text())
    spec = json_format.ParseDict(
        job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=True
    )
    assert spec.pipeline_info.name == "vrl-rl-cartpole-v1"
    assert {TRAINER_ID, EVALUATOR_ID, PUSHER_ID} <= set(spec.root.dag.tasks)


def test_cli_module_registers_rl_without_importing_tensorflow():
    code = (
        "import argparse, sys; from vrl import rl as rl_cli; p = argparse.ArgumentParser();"
        "rl_cli.add_parser(p.add_subparsers()); a = p.parse_args(['rl', '--steps', '10']);"
        "assert a.func is rl_cli.handler and a.env_id is None and a.num_env_steps == 10;"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _versions(config: RlPipelineConfig) -> list[str]:
    folder = os.path.join(config.serving_base, config.model_name)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


@pytest.mark.e2e
@pytest.mark.slow
def test_local_run_learns_and_pushes_only_when_blessed(cartpole_homes, capsys):
    from vrl.rl import report

    # The session's shared CartPole runs (tests/conftest.py): `vrl run rl` with the
    # default config as a user runs it, 2,500 steps (seed 0's greedy policy scores
    # about 140 there, a random one about 20), 5 evaluation episodes.
    before, after = (pathlib.Path(home) for home in cartpole_homes)
    # Threshold far above CartPole's 500 maximum: evaluated, never blessed.
    strict = _config(before, eval_episodes=5, threshold=100_000)
    assert _versions(strict) == []
    model_dirs = [d for d, _, files in os.walk(strict.pipeline_root) if "saved_model.pb" in files]
    assert any(d.endswith("Format-Serving") for d in model_dirs)
    assert report(strict) == 0
    assert "blessed: False" in capsys.readouterr().out

    # A threshold any policy meets: blessed and pushed.
    lenient = _config(after, eval_episodes=5, threshold=0.0)
    versions = _versions(lenient)
    assert len(versions) == 1
    # It learned: far above the random policy the evaluator ran on the same episodes.
    reports = glob.glob(f"{lenient.pipeline_root}/{EVALUATOR_ID}/evaluation/*/report.json")
    newest = max(reports, key=lambda p: int(p.split(os.sep)[-2]))  # execution ids grow
    with open(newest, encoding="utf-8") as f:
        evaluation = json.load(f)
    assert evaluation["gradient_updates"] > 0
    assert evaluation["mean_return"] > 100.0 > 3 * evaluation["random_mean_return"]
    assert evaluation["blessed"]
    assert os.path.isfile(
        os.path.join(lenient.serving_base, lenient.model_name, versions[0], "saved_model.pb")
    )
    assert report(lenient) == 0
    out = capsys.readouterr().out
    assert (
        "blessed: True" in out
        and f"pushed policy to {os.path.join(lenient.serving_base, lenient.model_name)}" in out
    )
    # The run's report is written beside its outputs, once per pushed version.
    page = os.path.join(
        lenient.pipeline_root, "reports", f"{lenient.model_name}-{versions[0]}.html"
    )
    assert f"report: {page}" in out
    with open(page, encoding="utf-8") as f:
        assert f"{lenient.model_name} version {versions[0]}" in f.read()


def test_cli_rejects_an_unknown_preset(capsys):
    from vrl import cli

    assert cli.main(["run", "rl", "--preset", "NoSuchEnv-v0"]) == 2
    err = capsys.readouterr().err
    assert "--preset 'NoSuchEnv-v0': unknown" in err and "CartPole-v1" in err
