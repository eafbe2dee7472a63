"""`vrl monitor` on a served DQN policy: its logged observations against those its
evaluation episodes showed it (the PolicyEvaluator's statistics, found through the
version's provenance). The policy is built by hand, evaluated by the
PolicyEvaluator's own functions, and its traffic is logged by hand the way
`vrl serve` writes a policy Predict (no server, no pipeline run)."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import tensorflow_data_validation as tfdv

from components.atomic_pusher.ops import atomic_push
from components.policy_evaluator import ops
from components.policy_evaluator.report import write_observation_statistics
from contracts.features import OBSERVATION_KEY
from contracts.serving_base import PROVENANCE_FILE
from models.dqn import envs
from models.dqn.observation_features import ObservationRecorder
from tests.components.policy_evaluator.test_observation_stats import PolePolicy, save_pole_policy
from tests.vrl.traffic import logging_config, write_logs
from vrl import cli, monitor_files

EPISODES, FRAMES = 20, 100
"""Many short episodes: the states are spread by the seeds' starting states, not by
where a few long trajectories wander, so another set of seeds looks alike."""
SHIFT = np.array([1.5, 0.0, 0.15, 0.0], np.float32)
"""The cart far to the right, the pole leaning: states the evaluation rarely saw."""


def _episode_observations(seed: int) -> list[np.ndarray]:
    """The observation batches the policy is asked for in episodes of `seed`."""
    policy, batches = PolePolicy(), []

    def greedy(observations: np.ndarray) -> np.ndarray:
        batches.append(observations.copy())
        return policy.serve(observations)["action"].numpy()

    envs.evaluate_batched("CartPole-v1", greedy, EPISODES, seed, max_episode_frames=FRAMES)
    return batches


def _log(prefix: str, model: str, batches: list[np.ndarray]) -> None:
    policy = PolePolicy()
    requests = [{OBSERVATION_KEY: b} for b in batches]
    responses = [{k: v.numpy() for k, v in policy.serve(b).items()} for b in batches]
    write_logs(prefix, model, requests, responses)


@pytest.fixture(scope="module")
def policy_world(tmp_path_factory):
    """A pushed policy whose evaluation recorded its observations, and logged traffic
    of episodes like the evaluation's (other seeds) and of shifted states."""
    root = str(tmp_path_factory.mktemp("policy_monitor"))
    export = save_pole_policy(os.path.join(root, "export"))
    evaluation = os.path.join(root, "evaluation")
    os.makedirs(evaluation)
    recorder = ObservationRecorder()
    protocol = ops.Protocol("CartPole-v1", EPISODES, seed=0, max_episode_frames=FRAMES)
    ops.evaluate_saved_policy(export, protocol, recorder)
    write_observation_statistics(evaluation, recorder.columns())
    os.makedirs(os.path.join(export, os.path.dirname(PROVENANCE_FILE)))
    with open(os.path.join(export, PROVENANCE_FILE), "w", encoding="utf-8") as f:
        json.dump({"kind": "rl", "evaluation": {"evaluation_uri": evaluation}}, f)
    base = os.path.join(root, "serving")
    atomic_push(export, os.path.join(base, "pole"), version=1)
    config = os.path.join(root, "models.config")
    logging_config(config, base, {"like": "pole", "shifted": "pole"})
    like = _episode_observations(seed=100)
    _log(os.path.join(root, "logs", "like"), "like", like)
    _log(os.path.join(root, "logs", "shifted"), "shifted", [b * 3 + SHIFT for b in like])
    return root, config


def _monitor(root: str, config: str, name: str) -> int:
    out = os.path.join(root, "out", name)
    return cli.main(["monitor", name, "--model-config", config, "--out", out])


def test_shifted_observations_exit_nonzero_naming_the_dimensions(policy_world, capsys):
    root, config = policy_world
    assert _monitor(root, config, "shifted") == 1
    drifted = capsys.readouterr().err.split("DRIFT in shifted: ")[1].strip().split(", ")
    assert {"observation_0", "observation_2"} <= set(drifted)
    out = os.path.join(root, "out", "shifted")
    with open(os.path.join(out, monitor_files.VERDICT_FILE), encoding="utf-8") as f:
        verdict = json.load(f)
    assert verdict["versions"]["1"]["reference"] == "evaluation episodes"
    anomalies = tfdv.load_anomalies_text(
        os.path.join(monitor_files.version_folder(out, 1), monitor_files.ANOMALIES)
    )
    assert "observation_0" in anomalies.anomaly_info


def test_observations_like_the_evaluation_episodes_exit_zero(policy_world, capsys):
    root, config = policy_world
    assert _monitor(root, config, "like") == 0
    out = capsys.readouterr().out
    assert "DRIFT" not in out
    for name in ("observation_0", "observation_3", "action"):
        assert f" {name} " in out


def test_a_policy_evaluated_without_observation_statistics_is_one_line(
    policy_world, tmp_path, capsys
):
    root, config = policy_world
    evaluation = os.path.join(root, "evaluation")
    moved = str(tmp_path / "stats.pbtxt")
    os.replace(os.path.join(evaluation, "observation_stats.pbtxt"), moved)
    try:
        assert _monitor(root, config, "like") == 2
    finally:
        os.replace(moved, os.path.join(evaluation, "observation_stats.pbtxt"))
    err = capsys.readouterr().err
    assert "no observation statistics" in err and err.count("\n") == 1


def test_report_draws_each_observation_feature_against_the_evaluation_episodes(
    policy_world, tmp_path
):
    root, config = policy_world
    out = os.path.join(root, "out", "shifted")
    if not os.path.isfile(os.path.join(out, monitor_files.VERDICT_FILE)):  # run alone
        _monitor(root, config, "shifted")
    page = tmp_path / "report.html"
    argv = ["report", "pole:1", "--serving-base", os.path.join(root, "serving")]
    argv += ["--home", str(tmp_path / "runs"), "--monitor", out, "--out", str(page)]
    assert cli.main(argv) == 0
    section = page.read_text(encoding="utf-8").split("<h2>Production</h2>", 1)[1]
    drawn = set(re.findall(r'<img alt="([^":]+): evaluation episodes vs served"', section))
    assert drawn == {f"observation_{i}" for i in range(4)} | {"action"}
