"""Optional experiment tracking with Weights & Biases: `vrl run image|rl --wandb`.

A finished local run becomes one W&B run holding the pipeline config, every
scalar the trainer wrote to TensorBoard at its own step (DQN: training loss,
training-episode and greedy-evaluation returns per env step; CNN: loss and
accuracy per epoch, train and validation), the final evaluation as the run
summary (blessing, mean return or TFMA accuracy overall and per class), and
the PNG plots the run already wrote (return over training, loss curve, error
analysis). It is logged when the pipeline has finished, from the run's
artifacts, so trainers, executors and the Kubeflow image need no wandb; the
live view while training stays TensorBoard.

W&B writes offline unless the user set WANDB_MODE: the run lands in
<home>/wandb/offline-run-<time>-<id>/ and `wandb sync <that folder>` uploads
it later. Install with `pip install .[wandb]` (wandb 0.25.0, the newest that
keeps protobuf 3.20 and so TFX working).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

DEFAULT_MODE = "offline"
MAX_PLOTS = 24
PLOT_PREFIX = "plots/"
# Final metrics the trainers also keep as hparams; they go to the summary instead.
SKIPPED_TAG_PREFIXES = ("hparams/",)


@dataclasses.dataclass(frozen=True)
class TrackingConfig:
    """Whether and where a local run is logged to Weights & Biases."""

    enabled: bool = False
    """Log the finished run to W&B (needs `pip install .[wandb]`)."""
    project: str = "vision-rl-pipeline"
    """W&B project the run is logged under."""

    def __post_init__(self) -> None:
        if not self.project or "/" in self.project:
            raise ValueError(
                f"--wandb-project {self.project!r}: give a W&B project name without '/'"
            )


def add_args(parser: argparse.ArgumentParser) -> None:
    """`--wandb` and `--wandb-project`, defaults from TrackingConfig."""
    defaults = TrackingConfig()
    parser.add_argument(
        "--wandb",
        action="store_true",
        default=defaults.enabled,
        help="log the finished run to Weights & Biases, offline unless WANDB_MODE is set "
        "(pip install .[wandb]; upload later with `wandb sync <home>/wandb/offline-run-*`)",
    )
    parser.add_argument("--wandb-project", default=defaults.project, help="W&B project for --wandb")


def from_args(args: argparse.Namespace) -> TrackingConfig:
    """The TrackingConfig from parsed flags; refuses --wandb without wandb installed,
    before anything runs."""
    config = TrackingConfig(enabled=args.wandb, project=args.wandb_project)
    if config.enabled and importlib.util.find_spec("wandb") is None:
        raise ValueError(
            "--wandb needs the wandb package, which is not installed: "
            "pip install '.[wandb]' (or pip install wandb==0.25.0)"
        )
    return config


def read_scalars(log_dir: str) -> dict[int, dict[str, float]]:
    """Every scalar in the TensorBoard event files under `log_dir`, by step.

    Tags of files in a subfolder get its path as prefix (Keras writes
    `train/epoch_loss` and `validation/epoch_loss` that way). Non-scalar
    summaries and hparams are left out.
    """
    import numpy as np
    import tensorflow as tf

    by_step: dict[int, dict[str, float]] = {}
    for path in _files_under(log_dir, lambda name: name.startswith("events.out.tfevents.")):
        prefix = os.path.relpath(os.path.dirname(path), log_dir)
        prefix = "" if prefix == "." else prefix.replace(os.sep, "/") + "/"
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag.startswith(SKIPPED_TAG_PREFIXES):
                    continue
                tag = prefix + value.tag
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = float(value.simple_value)
                elif kind == "tensor":
                    array = tf.make_ndarray(value.tensor)
                    if array.ndim != 0 or not np.issubdtype(array.dtype, np.number):
                        continue
                    number = float(array)
                else:
                    continue
                by_step.setdefault(int(event.step), {})[tag] = number
    return by_step


def _files_under(folder: str, wanted: Callable[[str], bool]) -> list[str]:
    """Files below `folder` (any depth) whose name `wanted` accepts, sorted."""
    import tensorflow as tf

    return sorted(
        os.path.join(root, name)
        for root, _, names in tf.io.gfile.walk(folder)
        for name in names
        if wanted(name)
    )


def find_plots(folders: Iterable[str | None]) -> dict[str, str]:
    """PNG files under `folders` (recursively), keyed by a name for W&B:
    'return_over_training', 'error_analysis/confusion_matrix', ..."""
    plots: dict[str, str] = {}
    for folder in folders:
        if not folder:
            continue
        for path in _files_under(folder, lambda name: name.endswith(".png")):
            name = os.path.splitext(os.path.relpath(path, folder))[0].replace(os.sep, "/")
            plots.setdefault(name, path)
    return dict(list(plots.items())[:MAX_PLOTS])


def log_run(
    tracking: TrackingConfig,
    *,
    name: str,
    job_type: str,
    run_config: Mapping[str, Any],
    scalars: Mapping[int, Mapping[str, float]],
    summary: Mapping[str, Any],
    plots: Mapping[str, str],
    out_dir: str,
) -> str:
    """Logs one finished run to W&B (offline unless WANDB_MODE says otherwise) and
    returns the local run folder (the one `wandb sync` takes)."""
    import wandb

    os.makedirs(out_dir, exist_ok=True)
    run = wandb.init(
        project=tracking.project,
        name=name,
        job_type=job_type,
        config=dict(run_config),
        dir=out_dir,
        mode=os.environ.get("WANDB_MODE") or DEFAULT_MODE,
        reinit="finish_previous",
    )
    try:
        last = -1
        for step in sorted(scalars):
            run.log(dict(scalars[step]), step=step)
            last = step
        if plots:
            images = {PLOT_PREFIX + k: wandb.Image(p) for k, p in plots.items()}
            run.log(images, step=max(last, 0))
        for key, value in summary.items():
            if value is not None:
                run.summary[key] = value
        return os.path.dirname(run.dir)  # run.dir is <run folder>/files
    finally:
        run.finish()


def print_run_folder(folder: str | None) -> None:
    """Tells the person where the W&B run went and how to upload it (None: not tracked)."""
    if folder is None:
        return
    mode = os.environ.get("WANDB_MODE") or DEFAULT_MODE
    print(f"  W&B run ({mode}): {folder}")
    if mode == "offline":
        print(f"  upload it with: wandb sync {folder}")


def _store(pipeline_root: str):
    from vrl.results import open_store
    from vrl.runner import metadata_path

    return open_store(metadata_path(pipeline_root))


def _latest_uri(store, type_name: str) -> str | None:
    from vrl.results import latest_artifact

    artifact = latest_artifact(store, type_name)
    return artifact.uri if artifact is not None else None


def _read_json(path: str) -> dict:
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def track_rl(tracking: TrackingConfig, config, home: str) -> str | None:
    """Logs the newest DqnTrainer / PolicyEvaluator results of an RL pipeline run
    (`config` is its RlPipelineConfig); returns the W&B run folder, None when off."""
    if not tracking.enabled:
        return None
    from components.policy_evaluator import constants as evaluator_keys
    from contracts import files
    from vrl.results import custom_property, latest_artifact

    store = _store(config.pipeline_root)
    log_dir = _latest_uri(store, "ModelRun")
    blessing = latest_artifact(store, "ModelBlessing")
    summary: dict[str, Any] = {}
    if blessing is not None:
        # The evaluated policy's Model (ServedBaseline outputs Models too).
        model_uri = custom_property(blessing, evaluator_keys.CURRENT_MODEL_PROPERTY)
        training = _read_json(os.path.join(model_uri, files.TRAINING_SUMMARY_FILE))
        summary.update(
            {f"training/{k}": v for k, v in training.items() if isinstance(v, (int, float))}
        )
        summary.update(
            blessed=custom_property(blessing, evaluator_keys.BLESSED_PROPERTY) == 1,
            eval_mean_return=custom_property(blessing, "mean_return"),
            eval_std_return=custom_property(blessing, "std_return"),
        )
    return log_run(
        tracking,
        name=config.pipeline_name,
        job_type="rl",
        run_config=dataclasses.asdict(config),
        scalars=read_scalars(log_dir) if log_dir else {},
        summary=summary,
        plots=find_plots([_latest_uri(store, "ModelEvaluation")]),
        out_dir=home,
    )


def track_image(tracking: TrackingConfig, config, run_summary) -> str | None:
    """Logs an image pipeline run (`config` its ImagePipelineConfig, `run_summary`
    what `vrl.results.summarize` read); returns the W&B run folder, None when off."""
    if not tracking.enabled:
        return None
    from contracts.files import TRAINING_REPORT_FILE

    store = _store(config.resolved_pipeline_root)
    log_dir = _latest_uri(store, "ModelRun")
    report = _read_json(os.path.join(log_dir, TRAINING_REPORT_FILE)) if log_dir else {}
    run_config = dataclasses.asdict(config)
    run_config["trainer"] = report.get("summary", {}).get("config", config.trainer_config())
    summary: dict[str, Any] = {"blessed": run_summary.blessed, "pushed": run_summary.pushed}
    summary.update({f"eval/{k}": v for k, v in run_summary.metrics.items()})
    summary.update({f"eval/accuracy/{k}": v for k, v in run_summary.per_class.items()})
    return log_run(
        tracking,
        name=config.pipeline_name,
        job_type="image",
        run_config=run_config,
        scalars=read_scalars(log_dir) if log_dir else {},
        summary=summary,
        plots=find_plots([log_dir]),
        out_dir=config.home,
    )
