"""Production serving with the real `tensorflow/serving` image: models.config and docker line.

Kubernetes manifests live beside this module in `serving/k8s/`.
"""

from __future__ import annotations

import os
import posixpath
import shlex

from google.protobuf import text_format

from serving.model_config import specs_from_base

TF_SERVING_IMAGE = "tensorflow/serving:2.16.1"
CONTAINER_MODEL_BASE = "/models"
K8S_DIR = os.path.join(os.path.dirname(__file__), "k8s")


def models_config_text(
    model_names: list[str],
    container_base: str = CONTAINER_MODEL_BASE,
    num_versions: int = 1,
    labels: dict[str, dict[str, int]] | None = None,
) -> str:
    """A TF Serving text-proto ModelServerConfig serving `model_names` from `container_base`."""
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    for name in model_names:
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = f"{container_base.rstrip('/')}/{name}"
        entry.model_platform = "tensorflow"
        entry.model_version_policy.latest.num_versions = num_versions
        for label, version in sorted((labels or {}).get(name, {}).items()):
            entry.version_labels[label] = version
    return text_format.MessageToString(config)


def write_models_config(
    model_base: str,
    out_path: str,
    container_base: str = CONTAINER_MODEL_BASE,
    num_versions: int = 1,
) -> list[str]:
    """Writes models.config for every model folder under `model_base`; returns the names.

    A folder of the base that `out_path` is written into holds the config, not a
    model, even while it is still empty."""
    folder, _, rest = _relative_to_base(out_path, model_base).partition(os.sep)
    config_folder = folder if rest else None
    names = [spec.name for spec in specs_from_base(model_base) if spec.name != config_folder]
    if not names:
        raise ValueError(
            f"{model_base}: no model folders found; expected <base>/<model>/<version>/"
        )
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(models_config_text(names, container_base, num_versions))
    return names


def _relative_to_base(path: str, model_base: str) -> str:
    """`path` relative to `model_base` (starting with `..` when outside it)."""
    return os.path.relpath(os.path.abspath(path), os.path.abspath(model_base))


def docker_run_command(
    model_base: str,
    config_file: str,
    grpc_port: int = 8500,
    rest_port: int = 8501,
    image: str = TF_SERVING_IMAGE,
    container_base: str = CONTAINER_MODEL_BASE,
) -> str:
    """`docker run` line serving `model_base` with the real TF Serving image.

    The base is mounted at `container_base`, where the config written with the same
    `container_base` says the models are; `config_file` must sit inside `model_base`
    (it is mounted with it).

    Raises:
      ValueError: `config_file` is outside `model_base`, or `container_base` is not
        an absolute path (a container has no working folder to resolve it against).
    """
    if not posixpath.isabs(container_base):
        raise ValueError(
            f"the config's base paths are relative to {container_base!r}; a container "
            f"needs an absolute --container-base such as {CONTAINER_MODEL_BASE}"
        )
    relative = _relative_to_base(config_file, model_base)
    if relative.startswith(".."):
        raise ValueError(
            f"{config_file}: the model config must be inside the model base {model_base}"
        )
    mount = container_base.rstrip("/") or "/"
    args = [
        "docker", "run", "--rm",
        "-p", f"127.0.0.1:{grpc_port}:8500",
        "-p", f"127.0.0.1:{rest_port}:8501",
        "-v", f"{os.path.abspath(model_base)}:{mount}:ro",
        image,
        f"--model_config_file={posixpath.join(mount, relative)}",
        "--file_system_poll_wait_seconds=2",
        "--model_config_file_poll_wait_seconds=60",
    ]  # fmt: skip
    return shlex.join(args)
