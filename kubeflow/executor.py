"""The pod entrypoint of every TFX task in a compiled Kubeflow package.

`python -m kubeflow.executor ARGS` takes the arguments TFX's
`kubeflow_v2_run_executor` takes and runs it, with three things fitted to an
open-source Kubeflow Pipelines pod:

- Artifact URIs (`minio://`, `s3://`, `gs://`) become the local paths KFP's
  launcher downloads inputs to and uploads outputs from (kubeflow.objectstore),
  so executors read and write through `tf.io.gfile` on local files and need no
  object-store client or credentials; the executor output is written back with
  the original URIs, which the launcher records.
- Parameters that exist only to key KFP's cache (`input_fingerprint`) are
  dropped before TFX sees them.
- Beam's `--direct_num_workers=0` ("one per CPU") counts the node's CPUs in a
  pod; it is replaced by a count from the pod's own CPU and memory (cgroup
  limits, else the CPU request the compiler wrote into `VRL_CPU_REQUEST`).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
from collections.abc import Callable

from absl import logging

from kubeflow.objectstore import local_path_for_uri

INVOCATION_FLAG = "--json_serialized_invocation_args"
TFX_ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
TFX_ENTRYPOINT_UTILS = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_entrypoint_utils"
# A blessing's model ids (TFX's Evaluator property names, which PolicyEvaluator shares).
MODEL_ID_KEYS = ("current_model_id", "baseline_model_id")
CACHE_KEY_PARAMETERS = ("input_fingerprint",)
CPU_REQUEST_ENV = "VRL_CPU_REQUEST"
# Transform measured 1.74 GB with 2 Beam workers and 2.64 GB with 4: about
# 0.45 GB per worker over a 0.85 GB base. Rounded up for headroom.
BASE_MEMORY_BYTES = 1 << 30
WORKER_MEMORY_BYTES = 1 << 29


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup") -> float | None:
    """CPUs the container may use (cgroup v2 cpu.max, or v1 CFS quota); None if unlimited."""
    v2 = _read(os.path.join(root, "cpu.max"))
    if v2:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    quota = _read(os.path.join(root, "cpu", "cpu.cfs_quota_us"))
    period = _read(os.path.join(root, "cpu", "cpu.cfs_period_us"))
    if quota and period and int(quota) > 0:
        return int(quota) / int(period)
    return None


def cgroup_memory_limit(root: str = "/sys/fs/cgroup") -> int | None:
    """Bytes the container may use (cgroup v2 memory.max or v1 limit); None if unlimited."""
    for path in (
        os.path.join(root, "memory.max"),
        os.path.join(root, "memory", "memory.limit_in_bytes"),
    ):
        text = _read(path)
        if text and text != "max" and int(text) < 1 << 60:  # v1 writes a huge number for none
            return int(text)
    return None


def pod_beam_workers(
    cpu_limit: float | None, memory_limit: int | None, cpu_request: float | None, cpu_count: int
) -> int:
    """Beam workers for this pod: its CPUs (limit, else request), capped by its memory."""
    cpus = cpu_limit or cpu_request or cpu_count
    workers = min(cpu_count, max(1, math.ceil(cpus)))
    if memory_limit:
        workers = min(workers, max(1, (memory_limit - BASE_MEMORY_BYTES) // WORKER_MEMORY_BYTES))
    return workers


def fit_beam_args(args: list[str], workers: Callable[[], int]) -> list[str]:
    """Replaces `--direct_num_workers=0` with `workers()`; other args unchanged."""
    out = []
    for arg in args:
        if arg == "--direct_num_workers=0":
            arg = f"--direct_num_workers={workers()}"
            logging.info("Beam in this pod: %s", arg)
        out.append(arg)
    return out


def _this_pod_workers() -> int:
    request = os.environ.get(CPU_REQUEST_ENV)
    return pod_beam_workers(
        cgroup_cpu_limit(),
        cgroup_memory_limit(),
        float(request) if request else None,
        os.cpu_count() or 1,
    )


def localize(executor_input: dict) -> dict[str, str]:
    """Points every artifact URI at the launcher's local path (in place).

    Returns {local path: original URI} for the way back.
    """
    back: dict[str, str] = {}
    for side in ("inputs", "outputs"):
        for artifacts in executor_input.get(side, {}).get("artifacts", {}).values():
            for artifact in artifacts.get("artifacts", []):
                local = local_path_for_uri(artifact.get("uri", ""))
                if local is not None:
                    back[local] = artifact["uri"]
                    artifact["uri"] = local
                if side == "inputs":
                    _localize_metadata(artifact.get("metadata", {}))
    for name in CACHE_KEY_PARAMETERS:
        executor_input.get("inputs", {}).get("parameterValues", {}).pop(name, None)
    return back


def _localize_metadata(metadata: dict) -> None:
    """Object-store URIs an input's metadata names (the blessing's baseline_model)
    become local paths too: the executor can open no object-store scheme, and
    the launcher fetched only the task's own inputs, so a path that is not
    there reads as missing rather than failing the task."""
    for key, value in metadata.items():
        if isinstance(value, str) and local_path_for_uri(value) is not None:
            metadata[key] = local_path_for_uri(value)


def restore_uris(
    output_file: str, back: dict[str, str], names: dict[int, str] | None = None
) -> None:
    """Rewrites the executor output's artifact URIs from local paths to the originals,
    and a blessing's model ids to the artifact names they stand for (`names`)."""
    if not os.path.exists(output_file):
        return
    with open(output_file) as f:
        output = json.load(f)
    # In KFP's metadata an id is a double: match it as one.
    by_id = {float(k): v for k, v in (names or {}).items()}
    for artifacts in output.get("artifacts", {}).values():
        for artifact in artifacts.get("artifacts", []):
            if artifact.get("uri") in back:
                artifact["uri"] = back[artifact["uri"]]
            metadata = artifact.get("metadata", {})
            for key, value in metadata.items():  # e.g. the blessing's current_model
                if isinstance(value, str) and value in back:
                    metadata[key] = back[value]
                elif key in MODEL_ID_KEYS and isinstance(value, (int, float)):
                    metadata[key] = by_id.get(float(value), value)
    with open(output_file, "w") as f:
        json.dump(output, f)


def artifact_ids(executor_input: dict) -> dict[int, str]:
    """{id TFX gives an input artifact in the pod: its name} (TFX hashes the name).

    TFX's entrypoint turns the ids back into names only on its own Evaluator's
    blessing; any other blessing (PolicyEvaluator's) would show KFP a
    meaningless number as its current_model_id."""
    utils = importlib.import_module(TFX_ENTRYPOINT_UTILS)
    names: dict[int, str] = {}
    for artifacts in executor_input.get("inputs", {}).get("artifacts", {}).values():
        for artifact in artifacts.get("artifacts", []):
            if artifact.get("name"):
                utils._get_hashed_id(artifact["name"], names)  # noqa: SLF001 (TFX's own hash)
    return names


def main(argv: list[str]) -> None:
    """Localizes the ExecutorInput in `argv`, runs TFX's executor, restores the URIs."""
    tfx_run = importlib.import_module(TFX_ENTRYPOINT)  # TFX and TensorFlow: at run time only
    argv = list(argv)
    at = argv.index(INVOCATION_FLAG) + 1
    executor_input = json.loads(argv[at])
    back = localize(executor_input)
    argv[at] = json.dumps(executor_input)
    argv = fit_beam_args(argv, _this_pod_workers)
    tfx_run.main(tfx_run._parse_flags([sys.argv[0], *argv]))  # noqa: SLF001 (TFX's own parser)
    restore_uris(executor_input["outputs"]["outputFile"], back, artifact_ids(executor_input))


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)
    main(sys.argv[1:])
