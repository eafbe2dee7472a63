"""Which models to serve and which of their versions: TF Serving's model config.

Models come either from a model base path (every sub-folder is a model, latest
version served) or from a TF Serving text-proto `model_config_list` file with
per-model version policy (latest N, all, specific) and version labels.
"""

from __future__ import annotations

import dataclasses
import os

from google.protobuf import text_format

from contracts.model_config import DEFAULT_POLICY, loaded_versions, policy_choice
from contracts.serving_base import complete_versions

_DEFAULT_NUM_VERSIONS = 1
REQUEST_LOG_TYPE = "tfrecord"
"""The one log_collector_config.type this server has a collector for (serving/request_log.py)."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One served model."""

    name: str
    """Model name clients use in requests."""
    base_path: str
    """Folder holding numeric version sub-folders."""
    policy: str = DEFAULT_POLICY
    """Version policy: "latest", "all" or "specific"."""
    num_versions: int = _DEFAULT_NUM_VERSIONS
    """How many of the newest versions "latest" keeps."""
    versions: tuple[int, ...] = ()
    """Versions "specific" keeps."""
    labels: tuple[tuple[str, int], ...] = ()
    """Version labels (label, version), e.g. ("stable", 3)."""
    log_sampling_rate: float = 0.0
    """logging_config.sampling_config.sampling_rate: share of Predicts logged."""
    log_filename_prefix: str = ""
    """logging_config.log_collector_config.filename_prefix ("": no request logging)."""

    def select(self, available: list[int]) -> set[int]:
        """Versions this policy serves out of the `available` ones on disk."""
        return set(loaded_versions(self.policy, available, self.num_versions, self.versions))

    def label_version(self, label: str) -> int | None:
        """Version a label points to, or None if the label is unknown."""
        return dict(self.labels).get(label)


def list_versions(base_path: str) -> list[int]:
    """Numeric version folders under `base_path` that are complete, ascending.

    The push protocol's rule (`contracts.serving_base.complete_versions`): once any
    version of the model carries the push completion marker
    (`assets.extra/vrl_push_complete.json`), only marked versions count, so a copy
    caught half-way is never loaded; in a base written by other tools (no marker
    anywhere) every version holding a SavedModel counts. Hidden or non-numeric
    folders (a push's staging folder) are ignored, as TF Serving does.
    """
    return complete_versions(base_path)


def specs_from_base(model_base: str, num_versions: int = _DEFAULT_NUM_VERSIONS) -> list[ModelSpec]:
    """One spec per model folder under `model_base`.

    Hidden folders are skipped, and so is a folder that holds things but no
    numeric version folder (a `conf/` beside the models holding the server's
    config file, say): it is not a model. An empty folder is one, a model
    waiting for its first version, as TF Serving waits for one."""
    if not os.path.isdir(model_base):
        raise FileNotFoundError(
            f"{model_base}: model base path does not exist; expected <base>/<model>/<version>/"
        )
    specs = []
    for name in sorted(os.listdir(model_base)):
        path = os.path.join(model_base, name)
        if name.startswith(".") or not os.path.isdir(path) or not _may_hold_versions(path):
            continue
        specs.append(ModelSpec(name=name, base_path=path, num_versions=num_versions))
    return specs


def _may_hold_versions(path: str) -> bool:
    """Whether a folder is empty (hidden entries aside) or holds a numeric folder."""
    try:
        entries = [e for e in os.scandir(path) if not e.name.startswith(".")]
    except OSError:
        return True  # unreadable: the server's own scan reports it
    return not entries or any(e.name.isdigit() and e.is_dir() for e in entries)


def specs_from_proto(config, relative_to: str = ".") -> list[ModelSpec]:
    """Specs from a `ModelServerConfig` proto (only `model_config_list` is supported)."""
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(
            "model server config: only model_config_list is supported, "
            f"got {config.WhichOneof('config')!r}"
        )
    specs = []
    seen = set()
    for model in config.model_config_list.config:
        if not model.name or not model.base_path:
            raise ValueError(f"model config entry {model!r}: both name and base_path are required")
        if model.name in seen:
            raise ValueError(f"model config: model {model.name!r} is listed twice")
        seen.add(model.name)
        if model.model_platform and model.model_platform != "tensorflow":
            raise ValueError(
                f"model config {model.name!r}: model_platform {model.model_platform!r} "
                "is not supported; expected 'tensorflow'"
            )
        policy = model.model_version_policy
        choice = policy_choice(model)
        num = policy.latest.num_versions if choice == "latest" else _DEFAULT_NUM_VERSIONS
        rate, prefix = _logging(model, relative_to)
        specs.append(
            ModelSpec(
                name=model.name,
                base_path=os.path.join(relative_to, model.base_path),
                policy=choice,
                num_versions=max(num, 1),
                versions=tuple(policy.specific.versions),
                labels=tuple(sorted(model.version_labels.items())),
                log_sampling_rate=rate,
                log_filename_prefix=prefix,
            )
        )
    return specs


def _logging(model, relative_to: str) -> tuple[float, str]:
    """(sampling rate, filename prefix) of a model's logging_config; (0, "") without one."""
    if not model.HasField("logging_config"):
        return 0.0, ""
    where = f"model config {model.name!r}: logging_config"
    collector = model.logging_config.log_collector_config
    rate = model.logging_config.sampling_config.sampling_rate
    if collector.type != REQUEST_LOG_TYPE:
        raise ValueError(
            f"{where}.log_collector_config.type {collector.type!r} is not supported; "
            f"expected {REQUEST_LOG_TYPE!r}"
        )
    if not collector.filename_prefix:
        raise ValueError(f"{where}.log_collector_config.filename_prefix is required")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{where}.sampling_config.sampling_rate must be in [0, 1], got {rate}")
    return rate, os.path.join(relative_to, collector.filename_prefix)


def parse_config_text(text: str, relative_to: str = "."):
    """Parses text-proto ModelServerConfig; returns (proto, specs)."""
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(text, config)
    return config, specs_from_proto(config, relative_to)


def load_config_file(path: str) -> list[ModelSpec]:
    """Reads a TF Serving model config file; relative base paths resolve against its folder."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        _, specs = parse_config_text(text, relative_to=os.path.dirname(os.path.abspath(path)))
    except text_format.ParseError as e:
        raise ValueError(f"{path}: not a text-proto ModelServerConfig: {e}") from e
    return specs
