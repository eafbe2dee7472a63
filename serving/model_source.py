"""Where a server's models come from: the registry for a base path or config file,
the loader that records load metrics and replays warmup, and config-file polling."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from contracts.serving_base import SERVE_TAGS
from serving import warmup as warmup_mod
from serving.errors import ServingError
from serving.metrics import Metrics
from serving.model_config import ModelSpec, list_versions, load_config_file, specs_from_base
from serving.registry import Loader, ModelRegistry
from serving.servable import LoadedVersion

log = logging.getLogger(__name__)


def version_loader(
    metrics: Metrics,
    warmup: bool = True,
    warmup_iterations: int = 1,
    tags: tuple[str, ...] = SERVE_TAGS,
) -> Loader:
    """Loads a version, records TensorFlow's load metrics, replays its warmup file.

    A version is only published (AVAILABLE) after its warmup requests ran, as in TF
    Serving; a failing warmup fails the load.
    """

    def load(name: str, version: int, path: str) -> LoadedVersion:
        start = time.perf_counter()
        try:
            loaded = LoadedVersion(name, version, path, tags)
        except Exception:
            metrics.record_load(path, False, 0)
            raise
        metrics.record_load(path, True, (time.perf_counter() - start) * 1e6)
        if warmup:
            start = time.perf_counter()
            status, records = "OK", 0
            try:
                logs = warmup_mod.read_warmup_logs(path)
                records = warmup_mod.replay(loaded, logs, warmup_iterations)
            except ServingError as e:
                status = e.code.name
                raise RuntimeError(f"warmup of {name} version {version} failed: {e}") from e
            finally:
                if records or status != "OK":
                    micros = (time.perf_counter() - start) * 1e6
                    metrics.record_warmup(path, status, records, micros)
            if records:
                log.info("warmed up %s version %d with %d requests", name, version, records)
        return loaded

    return load


def build_registry(
    model_base: str | None,
    model_config: str | None,
    model_name: str | None,
    poll_seconds: float,
    loader: Loader,
    allow_labels: bool,
) -> ModelRegistry:
    """The registry for a model base (many models, or one with `model_name`) or config file.

    Raises ValueError or FileNotFoundError naming the path and what to pass instead.
    """
    common = {
        "poll_seconds": poll_seconds,
        "loader": loader,
        "allow_labels_for_unavailable": allow_labels,
    }
    if model_config:
        return ModelRegistry(load_config_file(model_config), **common)
    if not model_base:
        raise ValueError("start_server: pass model_base or model_config")
    if model_name:  # TF Serving's single-model mode: model_base is the model's own folder
        if not os.path.isdir(model_base):
            raise FileNotFoundError(
                f"Could not find base path {model_base} for servable {model_name}"
            )
        return ModelRegistry([ModelSpec(name=model_name, base_path=model_base)], **common)
    versions = list_versions(model_base)
    if versions:
        raise ValueError(
            f"{model_base} holds version folders {versions}: it is one model's folder, not a "
            "base of models; serve it with --model_name NAME --model_base_path "
            f"{model_base}, or pass its parent folder"
        )
    return ModelRegistry(specs_from_base(model_base), model_base=model_base, **common)


def watch_config_file(
    reload: Callable[[list[ModelSpec]], None],
    path: str,
    seconds: float,
    stopped: threading.Event,
) -> None:
    """Re-reads the model config file every `seconds` and, when it changed, passes its
    models to `reload` (ServingCore.reload: models, labels and logging_configs)."""
    with open(path, encoding="utf-8") as f:
        last = f.read()
    while not stopped.wait(seconds):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if text == last:
                continue
            reload(load_config_file(path))
            last = text
            log.info("reloaded model config %s", path)
        except (OSError, ValueError, ServingError) as e:
            log.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s", e)
