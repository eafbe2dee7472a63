"""W&B tracking, always offline: the flags, TensorBoard scalars read back, and a real
`vrl run rl --wandb` whose offline run folder holds the config, history, summary and plot."""

import glob
import importlib.util
import json
import os
import time

import pytest
import tensorflow as tf

from vrl import tracking
from vrl.cli import main


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """No network and nothing written outside tmp_path: W&B's own folders moved there."""
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the default must be offline
    monkeypatch.setenv("WANDB_API_KEY", "")
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))


def _records(run_folder: str, timeout: float = 60.0) -> dict:
    """The offline run's transaction log as {'config', 'history', 'summary'}, read once
    W&B's writer process has written its final 'exit' record (it may lag run.finish())."""
    deadline = time.monotonic() + timeout
    while True:
        out, complete = _scan(run_folder)
        if complete or time.monotonic() > deadline:
            assert complete, f"{run_folder}: no exit record after {timeout} s"
            return out
        time.sleep(0.5)


def _scan(run_folder: str) -> tuple[dict, bool]:
    from wandb.proto import wandb_internal_pb2
    from wandb.sdk.internal import datastore

    (path,) = glob.glob(os.path.join(run_folder, "run-*.wandb"))
    store = datastore.DataStore()
    store.open_for_scan(path)
    out, complete = {"config": {}, "history": [], "summary": {}}, False
    while (data := store.scan_data()) is not None:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["config"].update(
                (i.key, json.loads(i.value_json)) for i in record.run.config.update
            )
        elif kind == "history":
            row = {
                i.key or "/".join(i.nested_key): json.loads(i.value_json)
                for i in record.history.item
            }
            out["history"].append(row)
        elif kind == "summary":
            out["summary"].update(
                (i.key or "/".join(i.nested_key), json.loads(i.value_json))
                for i in record.summary.update
            )
        elif kind == "exit":
            complete = True
    return out, complete


def test_wandb_flag_without_wandb_installed_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "wandb" else real_find_spec(name, *a),
    )
    assert main(["run", "rl", "--home", str(tmp_path), "--wandb"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install '.[wandb]'" in err and "\n" not in err
    assert not os.listdir(tmp_path)  # refused before anything ran


def test_scalars_are_read_by_step_with_subfolder_prefixes_and_without_hparams(tmp_path):
    for sub, values in (
        ("", {"train/loss": [0.5, 0.25]}),
        ("validation", {"epoch_loss": [0.75, 0.5]}),
    ):
        writer = tf.summary.create_file_writer(str(tmp_path / sub))
        with writer.as_default():
            for tag, series in values.items():
                for step, value in enumerate(series):
                    tf.summary.scalar(tag, value, step=step * 10)
            tf.summary.scalar("hparams/final", 1.0, step=0)
            tf.summary.text("notes", "not a scalar", step=0)
        writer.close()

    assert tracking.read_scalars(str(tmp_path)) == {
        0: {"train/loss": 0.5, "validation/epoch_loss": 0.75},
        10: {"train/loss": 0.25, "validation/epoch_loss": 0.5},
    }


@pytest.mark.slow
@pytest.mark.e2e
def test_vrl_run_rl_with_wandb_logs_config_history_summary_and_plot_offline(
    tmp_path, offline_wandb, capsys
):
    home = tmp_path / "home"
    dqn = ["learning_starts=100", "train_freq=100", "gradient_steps=10", "eval_interval=300"]
    argv = ["run", "rl", "--env", "CartPole-v1", "--home", str(home), "--steps", "600"]
    argv += ["--eval-episodes", "2", "--wandb", "--wandb-project", "vrl-test"]
    for item in [*dqn, "eval_episodes=2"]:
        argv += ["--dqn", item]
    assert main(argv) == 0

    (run_folder,) = glob.glob(str(home / "wandb" / "offline-run-*"))
    assert f"wandb sync {run_folder}" in capsys.readouterr().out
    logged = _records(run_folder)
    assert logged["config"]["env_id"] == "CartPole-v1"
    assert logged["config"]["dqn_config"]["eval_interval"] == 300
    assert logged["config"]["dqn_config"]["deterministic"] is True
    by_step = {row["_step"]: row for row in logged["history"]}
    assert {300, 600} <= set(by_step)
    assert "eval/mean_return" in by_step[300] and "train/loss" in by_step[600]
    assert logged["summary"]["eval_mean_return"] >= 0 and "blessed" in logged["summary"]
    assert logged["summary"]["training/env_steps"] == 600
    assert glob.glob(os.path.join(run_folder, "files", "media", "images", "plots", "*.png"))


def test_image_run_logs_epochs_trainer_config_tfma_summary_and_plots_offline(
    tmp_path, offline_wandb, monkeypatch
):
    from contracts.files import LOSS_CURVE_FILE, TRAINING_REPORT_FILE
    from models.cnn.config import TrainerConfig
    from models.cnn.report import write_report
    from pipeline.image_config import ImagePipelineConfig
    from vrl.results import RunSummary

    # The trainer's ModelRun as run_fn leaves it: Keras' TensorBoard folders, report, plot.
    model_run = tmp_path / "model_run"
    for sub, losses in (("train", [0.9, 0.4]), ("validation", [1.0, 0.5])):
        writer = tf.summary.create_file_writer(str(model_run / sub))
        with writer.as_default():
            for epoch, loss in enumerate(losses):
                tf.summary.scalar("epoch_loss", loss, step=epoch)
        writer.close()
    write_report(str(model_run), {"loss": [0.9, 0.4]}, {"config": {"arch": "convnet", "seed": 3}})
    assert (model_run / TRAINING_REPORT_FILE).exists() and (model_run / LOSS_CURVE_FILE).exists()
    monkeypatch.setattr(tracking, "_store", lambda root: None)
    monkeypatch.setattr(tracking, "_latest_uri", lambda store, kind: str(model_run))
    config = ImagePipelineConfig(
        data_dir="d", home=str(tmp_path / "home"), trainer=TrainerConfig(seed=3)
    )
    summary = RunSummary(
        blessed=True,
        pushed=True,
        metrics={"sparse_categorical_accuracy": 0.95},
        per_class={"cat": 0.9},
    )

    folder = tracking.track_image(tracking.TrackingConfig(enabled=True), config, summary)

    assert folder.startswith(str(tmp_path / "home" / "wandb" / "offline-run-"))
    logged = _records(folder)
    assert logged["config"]["trainer"] == {"arch": "convnet", "seed": 3}
    assert logged["config"]["data_dir"] == "d"
    by_step = {row["_step"]: row for row in logged["history"]}
    assert by_step[1]["train/epoch_loss"] == pytest.approx(0.4)
    assert by_step[1]["validation/epoch_loss"] == pytest.approx(0.5)
    assert logged["summary"]["eval/sparse_categorical_accuracy"] == 0.95
    assert logged["summary"]["eval/accuracy/cat"] == 0.9 and logged["summary"]["blessed"] is True
    assert glob.glob(os.path.join(folder, "files", "media", "images", "plots", "loss_curve*.png"))


def test_tracking_off_logs_nothing():
    assert tracking.track_rl(tracking.TrackingConfig(), config=None, home="unused") is None
