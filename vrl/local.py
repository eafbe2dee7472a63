"""Runs pipelines on the embedded default: LocalDagRunner, SQLite ML Metadata,
Beam DirectRunner; reports progress as component lines."""

from __future__ import annotations

import dataclasses
import logging as py_logging
import os
import time
from collections.abc import Callable
from typing import Any

from pipeline.image_config import ImagePipelineConfig
from pipeline.infer_config import InferPipelineConfig
from pipeline.rl_config import RlPipelineConfig
from vrl import preflight
from vrl.results import RunSummary, summarize
from vrl.runner import exclusive_run, local_beam_args, local_metadata_config, run_local

_PROJECT_DIRS = tuple(
    f"{os.sep}{d}{os.sep}" for d in ("components", "models", "pipeline", "serving")
)
_NOISY = (
    "direct_running_mode",
    "is not supported by TFX",
    "non-supported Python version",
    "is deprecated and will be removed",
    "single_deterministic_pass",
    "is not a valid tf.function parameter name",
    "property_predicate is not supported",
    "Couldn't find python-snappy",
)


class _ProgressFilter(py_logging.Filter):
    """Passes component start/finish lines, this project's own logs and real
    warnings; drops TFX's proto dumps and known noise."""

    def filter(self, record: py_logging.LogRecord) -> bool:
        msg = record.getMessage()
        if any(n in msg for n in _NOISY):
            return False
        if record.levelno >= py_logging.WARNING:
            return True
        if msg.startswith("Component ") and msg.endswith((" is running.", " is finished.")):
            return True
        path = record.pathname
        return "site-packages" not in path and any(d in path for d in _PROJECT_DIRS)


def show_progress() -> None:
    """Shows TFX component start/finish lines and this project's own INFO logs."""
    import warnings

    from absl import logging

    # Library deprecation chatter (google-api-core on Python 3.10, tf-keras
    # initializer seeding) says nothing about this run.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="The initializer .* is unseeded")
    logging.set_verbosity(logging.INFO)
    handlers = [
        logging.get_absl_handler(),
        *py_logging.getLogger().handlers,
        *py_logging.getLogger("tensorflow").handlers,
    ]
    if not py_logging.getLogger().handlers:
        py_logging.basicConfig(
            level=py_logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
        )
        handlers += py_logging.getLogger().handlers
    formatter = py_logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for handler in handlers:
        if not any(isinstance(f, _ProgressFilter) for f in handler.filters):
            handler.addFilter(_ProgressFilter())
            handler.setFormatter(formatter)


def run_image_pipeline(
    config: ImagePipelineConfig, extra_beam_args: list[str] | None = None
) -> RunSummary:
    """Runs the image pipeline locally and returns what it produced."""
    config = preflight_image(config)
    root = config.resolved_pipeline_root

    def build():
        # Imported under the lock: TFX takes ~15 s to import, a refusal should not.
        from pipeline.image_pipeline import create_image_pipeline

        return create_image_pipeline(
            config,
            beam_pipeline_args=local_beam_args() + list(extra_beam_args or []),
            metadata_connection_config=local_metadata_config(root),
        )

    _run_locked(root, build, "image")
    return summarize(root)


def run_rl_pipeline(config: RlPipelineConfig, on_start: Callable[[], None] | None = None) -> None:
    """Runs the RL pipeline locally (its results are read from ML Metadata after).

    `on_start` is called once the checks passed, before anything is written, so a
    caller's header lines never precede a refusal."""
    preflight_rl(config)
    if on_start is not None:
        on_start()

    def build():
        from pipeline.rl_pipeline import create_rl_pipeline  # under the lock, as above

        return create_rl_pipeline(
            config, metadata_connection_config=local_metadata_config(config.pipeline_root)
        )

    _run_locked(config.pipeline_root, build, "rl")


def run_infer_pipeline(config: InferPipelineConfig) -> str:
    """Runs the inference pipeline locally; returns the folder of its PredictionLogs
    (the newest InferenceResult in the pipeline's ML Metadata)."""
    from vrl.results import latest_artifact, open_store
    from vrl.runner import metadata_path

    root = config.resolved_pipeline_root
    preflight.check_writable("home", root)

    def build():
        from pipeline.infer_pipeline import create_infer_pipeline  # under the lock, as above

        return create_infer_pipeline(
            config,
            beam_pipeline_args=local_beam_args(),
            metadata_connection_config=local_metadata_config(root),
        )

    _run_locked(root, build, "infer")
    result = latest_artifact(open_store(metadata_path(root)), "InferenceResult")
    if result is None:
        raise RuntimeError(f"{root}: the run finished but recorded no InferenceResult")
    return result.uri


def _run_locked(root: str, build: Callable[[], Any], kind: str) -> None:
    """The one local run path: progress lines on, the root's lock held while the
    pipeline is built and run by LocalDagRunner."""
    show_progress()
    with exclusive_run(root):
        pipeline = build()
        start = time.time()
        run_local(pipeline)
        from absl import logging

        logging.info("%s pipeline finished in %.0f s", kind, time.time() - start)


def preflight_rl(config: RlPipelineConfig) -> None:
    """Checks what the config alone cannot (paths, the env, its replay memory)
    before anything is written."""
    preflight.check_writable("home", config.pipeline_root)
    preflight.check_writable("serving_base", config.serving_base)
    dqn = config.dqn_config
    preflight.check_env(config.env_id, dqn.replay_capacity, config.num_env_steps, dqn.num_envs)


def preflight_image(config: ImagePipelineConfig) -> ImagePipelineConfig:
    """Checks what the config alone cannot (data layout, paths) before anything
    is written; returns the config with the input pattern filled in."""
    from pipeline.image_config import detect_input_pattern

    preflight.check_exists("data_dir", config.data_dir, folder=True)
    if not config.input_pattern:
        config = dataclasses.replace(
            config,
            input_pattern=detect_input_pattern(config.data_dir, config.input_format, config.span),
        )
    preflight.check_exists("schema_path", config.schema_path)
    preflight.check_schema(config.schema_path)
    preflight.check_class_folders(config.data_dir, config.input_pattern, config.span)
    preflight.check_manifests(config.data_dir, config.input_pattern, config.span)
    preflight.check_writable(
        "home" if config.pipeline_root is None else "pipeline_root",
        config.resolved_pipeline_root,
    )
    preflight.check_writable("serving_base", config.resolved_serving_base)
    return config
