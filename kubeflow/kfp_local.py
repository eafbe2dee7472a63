"""Runs a compiled Kubeflow Pipelines v2 package on this machine the way KFP's
driver and launcher do, task by task, in subprocesses, against an S3 server.

The rules followed are those of the backend's Go source (driver, launcher,
cacheutils, objectstore), where they bear on what the pipelines do:

- The pipeline root is the run's (what `vrl submit` sends); without one the
  OSS backend ignores the spec's `defaultPipelineRoot` and uses
  `minio://mlpipeline/v2/artifacts`. Roots other than gs://, s3://, minio://
  and mem:// are refused, as `objectstore.ParseBucketConfig` refuses them.
- Output artifact URIs are `<root>/<pipeline name>/<run id>/<task>/<key>`.
- Each task runs in a fresh local folder standing for its pod's filesystem:
  input artifacts are downloaded from the object store to the launcher's
  local paths (`/minio/...`, `/s3/...`) before the executor, and output
  artifacts uploaded from them after it; nothing passes between tasks except
  through the object store.
- Parameters come from constants, pipeline parameters or other tasks' output
  parameters; the executor's command and arguments run exactly as the spec
  writes them, with `{{$}}` replaced by the ExecutorInput JSON.
- The cache key is built as cacheutils.GenerateCacheKey builds it (input
  artifact names, parameter values, output specs, image, command and
  arguments) and scoped to the pipeline name; a hit reuses the earlier
  execution's outputs (same artifact names), so downstream keys match too.

Each task's command runs in a subprocess of its own; with a `ForkServer`
(`Run.launcher`) the `python -m ...` commands run in processes forked from
an interpreter that has imported TFX and the executors' modules once, which
saves each task the interpreter's start and imports (kubeflow.forkserver).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import resource
import subprocess
import sys

import yaml

from kubeflow.forkserver import ForkServer, module_of
from kubeflow.objectstore import (
    DEFAULT_PIPELINE_ROOT,
    LOCAL_ROOT_ENV,
    ObjectStore,
    check_pipeline_root,
    local_path_for_uri,
)


@dataclasses.dataclass
class TaskResult:
    """What one task produced: artifacts and parameters per output key, and its log."""

    returncode: int
    outputs: dict[str, list[dict]]
    log: str
    parameters: dict = dataclasses.field(default_factory=dict)
    cached: bool = False
    cpu_seconds: float | None = None  # the task process's CPU time, where measured


def load(package: str) -> tuple[dict, dict]:
    """(PipelineSpec dict, PlatformSpec dict) of a YAML package."""
    with open(package) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return docs[0], (docs[1] if len(docs) > 1 else {})


def task_order(spec: dict) -> list[str]:
    """Tasks in an order where every producer runs before its consumers."""
    tasks = spec["root"]["dag"]["tasks"]
    deps = {
        name: set(t.get("dependentTasks", []))
        | {
            a["taskOutputArtifact"]["producerTask"]
            for a in t.get("inputs", {}).get("artifacts", {}).values()
        }
        | {
            p["taskOutputParameter"]["producerTask"]
            for p in t.get("inputs", {}).get("parameters", {}).values()
            if "taskOutputParameter" in p
        }
        for name, t in tasks.items()
    }
    order: list[str] = []
    while len(order) < len(tasks):
        ready = sorted(n for n in tasks if n not in order and deps[n] <= set(order))
        if not ready:
            raise ValueError(f"cycle among tasks {sorted(set(tasks) - set(order))}")
        order.extend(ready)
    return order


def _parameter_values(task: dict, params: dict, results: dict[str, TaskResult]) -> dict:
    values = {}
    for name, p in task.get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" in p:
            values[name] = p["runtimeValue"]["constant"]
        elif "componentInputParameter" in p:
            values[name] = params[p["componentInputParameter"]]
        elif "taskOutputParameter" in p:
            source = p["taskOutputParameter"]
            values[name] = results[source["producerTask"]].parameters[source["outputParameterKey"]]
        else:
            raise NotImplementedError(f"parameter source {p} is not emulated")
    return values


def cache_key(pipeline_name: str, executor_input: dict, container: dict) -> str:
    """sha256 of what cacheutils.GenerateCacheKey puts in the key, plus the pipeline."""
    inputs, outputs = executor_input["inputs"], executor_input["outputs"]
    key = {
        "pipeline": pipeline_name,
        "inputArtifactNames": {
            k: [a["name"] for a in v["artifacts"]] for k, v in inputs["artifacts"].items()
        },
        "inputParameterValues": inputs["parameterValues"],
        "outputArtifactsSpec": {
            k: {"type": v["artifacts"][0]["type"], "metadata": v["artifacts"][0]["metadata"]}
            for k, v in outputs["artifacts"].items()
        },
        "outputParametersSpec": sorted(outputs.get("parameters", {})),
        "containerSpec": {
            "image": container.get("image"),
            "cmdArgs": [*container["command"], *container.get("args", [])],
        },
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@dataclasses.dataclass
class Run:
    """One run's settings: where artifacts go, how tasks run, what the cache holds."""

    run_id: str
    work_dir: str
    store: ObjectStore
    pipeline_root: str | None = None
    env: dict | None = None
    enable_caching: bool = True
    cache: dict | None = None  # cache key -> TaskResult, shared across runs
    launcher: ForkServer | None = None  # None: each task in a fresh subprocess


def run_pipeline(package: str, run: Run, params: dict | None = None) -> dict[str, TaskResult]:
    """Runs every task of `package`; stops at the first failing task."""
    spec, _ = load(package)
    root = run.pipeline_root or DEFAULT_PIPELINE_ROOT  # OSS never reads defaultPipelineRoot
    check_pipeline_root(root)
    root_params = {
        name: p.get("defaultValue")
        for name, p in spec["root"].get("inputDefinitions", {}).get("parameters", {}).items()
    }
    root_params.update(params or {})
    pipeline_name = spec["pipelineInfo"]["name"]
    run_root = f"{root.rstrip('/')}/{pipeline_name}/{run.run_id}"
    results: dict[str, TaskResult] = {}
    for name in task_order(spec):
        task = spec["root"]["dag"]["tasks"][name]
        component = spec["components"][task["componentRef"]["name"]]
        container = spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
        executor_input = _executor_input(run, name, task, component, run_root, results, root_params)
        key = cache_key(pipeline_name, executor_input, container)
        caching = run.enable_caching and task.get("cachingOptions", {}).get("enableCache")
        if caching and run.cache is not None and key in run.cache:
            results[name] = dataclasses.replace(copy.deepcopy(run.cache[key]), cached=True)
            continue
        results[name] = _launch(run, name, container, executor_input)
        if results[name].returncode != 0:
            break
        if caching and run.cache is not None:
            run.cache[key] = results[name]
    return results


def _executor_input(run, name, task, component, run_root, results, root_params) -> dict:
    inputs = {
        key: {
            "artifacts": results[a["taskOutputArtifact"]["producerTask"]].outputs[
                a["taskOutputArtifact"]["outputArtifactKey"]
            ]
        }
        for key, a in task.get("inputs", {}).get("artifacts", {}).items()
    }
    declared = component.get("outputDefinitions", {})
    outputs = {
        key: {
            "artifacts": [
                {
                    "name": f"{run.run_id}-{name}-{key}",
                    "type": out["artifactType"],
                    "uri": f"{run_root}/{name}/{key}",
                    "metadata": {},
                }
            ]
        }
        for key, out in declared.get("artifacts", {}).items()
    }
    task_dir = os.path.join(run.work_dir, run.run_id, name)
    return {
        "inputs": {
            "parameterValues": _parameter_values(task, root_params, results),
            "artifacts": inputs,
        },
        "outputs": {
            "artifacts": outputs,
            "parameters": {
                key: {"outputFile": os.path.join(task_dir, "parameters", key)}
                for key in declared.get("parameters", {})
            },
            "outputFile": os.path.join(task_dir, "executor_output.json"),
        },
    }


def _launch(run: Run, name: str, container: dict, executor_input: dict) -> TaskResult:
    """Download inputs, run the executor in a fresh 'pod' folder, upload outputs."""
    pod_root = os.path.join(run.work_dir, run.run_id, name, "pod")
    for artifacts in executor_input["inputs"]["artifacts"].values():
        for a in artifacts["artifacts"]:
            local = local_path_for_uri(a["uri"], pod_root)
            if local is not None:
                run.store.download(a["uri"], local)
    for artifacts in executor_input["outputs"]["artifacts"].values():
        local = local_path_for_uri(artifacts["artifacts"][0]["uri"], pod_root)
        os.makedirs(os.path.dirname(local), exist_ok=True)  # prepareOutputFolders
    output_file = executor_input["outputs"]["outputFile"]
    os.makedirs(os.path.dirname(output_file), exist_ok=True)
    argv = list(container["command"]) + [
        json.dumps(executor_input) if a == "{{$}}" else a for a in container.get("args", [])
    ]
    env = {**(run.env or os.environ), LOCAL_ROOT_ENV: pod_root}
    returncode, log, cpu = _execute(run, argv, env, os.path.join(run.work_dir, run.run_id, name))
    produced = {k: v["artifacts"] for k, v in executor_input["outputs"]["artifacts"].items()}
    parameters: dict = {}
    if returncode == 0 and os.path.exists(output_file):
        with open(output_file) as f:
            executor_output = json.load(f)
        # mergeRuntimeArtifacts: the executor's uri and metadata, the declared type.
        for key, value in executor_output.get("artifacts", {}).items():
            reported = value["artifacts"][0]
            merged = {**produced[key][0], "metadata": reported.get("metadata", {})}
            merged["uri"] = reported.get("uri") or merged["uri"]
            produced[key] = [merged]
        parameters = executor_output.get("parameterValues", {})
    for key, spec in executor_input["outputs"]["parameters"].items():
        if returncode == 0 and key not in parameters and os.path.exists(spec["outputFile"]):
            with open(spec["outputFile"]) as f:  # collectOutputParameters' fallback
                parameters[key] = f.read()
    if returncode == 0:
        for artifacts in produced.values():
            uri = artifacts[0]["uri"]
            local = local_path_for_uri(uri, pod_root)
            if local is not None and os.path.exists(local):
                run.store.upload(local, uri)
    return TaskResult(returncode, produced, log, parameters, cpu_seconds=cpu)


def _execute(run: Run, argv: list[str], env: dict, task_dir: str) -> tuple[int, str, float]:
    """(exit status, stdout and stderr, CPU seconds) of the task's command, as the pod runs it."""
    if run.launcher is None or module_of(argv) is None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return proc.returncode, proc.stdout + proc.stderr, round(cpu, 2)
    log = os.path.join(task_dir, "log.txt")
    answer = run.launcher.run(argv, env, log)
    with open(log) as f:
        return answer["returncode"], f.read(), answer["cpu_seconds"]


def pod_env(extra: dict | None = None) -> dict:
    """The container's environment: the project's interpreter first on PATH
    (the spec's command is `python -m ...`) and the image's ENV settings."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["TF_USE_LEGACY_KERAS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra or {})
    return env
