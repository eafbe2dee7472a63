"""The RL gate end to end: a run too short to train is not blessed, says why in
one line, and allocates replay memory only for the steps it takes."""

import dataclasses
import glob
import json
import os

import pytest

from components.policy_evaluator.constants import NOT_BLESSED_FILE
from contracts.files import TRAINING_SUMMARY_FILE
from models.dqn.config import preset
from pipeline.rl_pipeline import EVALUATOR_ID, TRAINER_ID, RlPipelineConfig, create_rl_pipeline

ENV_ID = "MinAtar/Breakout-v1"  # registers no reward threshold; its preset learns from 5,000


@pytest.mark.e2e
@pytest.mark.slow
def test_a_run_shorter_than_learning_starts_is_not_blessed_and_says_why(tmp_path):
    from vrl.runner import local_metadata_config, run_local

    dqn = dataclasses.replace(preset(ENV_ID), eval_episodes=2, max_episode_frames=500)
    assert dqn.learning_starts == 5_000 and dqn.replay_capacity == 100_000
    config = RlPipelineConfig(
        pipeline_root=str(tmp_path / "tfx"),
        serving_base=str(tmp_path / "serving"),
        env_id=ENV_ID,
        num_env_steps=1_000,
        dqn_config=dqn,
        eval_episodes=3,
    )
    metadata = local_metadata_config(config.pipeline_root)
    run_local(create_rl_pipeline(config, metadata_connection_config=metadata))

    # Nothing served and no threshold, yet the untrained policy is not pushed.
    assert not os.path.exists(os.path.join(config.serving_base, config.model_name))
    (note,) = glob.glob(f"{config.pipeline_root}/{EVALUATOR_ID}/blessing/*/{NOT_BLESSED_FILE}")
    reason = (
        "the policy made no gradient update: the run's 1000 env steps ended before "
        "learning_starts (5000); train longer"
    )
    with open(note, encoding="utf-8") as f:
        assert f.read() == reason + "\n"
    (report_path,) = glob.glob(f"{config.pipeline_root}/{EVALUATOR_ID}/evaluation/*/report.json")
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    assert report["reason"] == reason  # also in report.txt and `vrl status`'s last runs
    assert report["gradient_updates"] == 0 and report["blessed"] is False
    assert len(report["returns"]) == 3 and report["random_mean_return"] is not None

    # Replay memory for 1,000 transitions, not the preset's 100,000.
    (summary_path,) = glob.glob(
        f"{config.pipeline_root}/{TRAINER_ID}/model/*/{TRAINING_SUMMARY_FILE}"
    )
    with open(summary_path, encoding="utf-8") as f:
        summary = json.load(f)
    assert summary["replay_transitions"] == 1_000
    assert summary["replay_mib"] == pytest.approx(1_000 * (10 * 10 * 4 + 22) / 2**20)
    assert summary["env_steps"] == 1_000 and summary["train_steps"] == 0
