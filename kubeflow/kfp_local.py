"""Runs a compiled Kubeflow Pipelines v2 package on this machine the way KFP's
driver and launcher do, task by task, in subprocesses.

For each task, in dependency order: build the ExecutorInput JSON (parameters
in `parameterValues` from constants or pipeline parameters, input artifacts
from the producers' executor outputs, output artifact URIs under
`<pipeline root>/<pipeline name>/<run id>/<task>/<key>`), run the executor
container's command and arguments exactly as the spec writes them (with `{{$}}`
replaced by the ExecutorInput), and read the executor output file back, as
the launcher does, to pass artifact metadata downstream.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import yaml


@dataclasses.dataclass
class TaskResult:
    """What one task produced: its artifacts per output key, and its log."""

    returncode: int
    outputs: dict[str, list[dict]]
    log: str


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
        for name, t in tasks.items()
    }
    order: list[str] = []
    while len(order) < len(tasks):
        ready = sorted(n for n in tasks if n not in order and deps[n] <= set(order))
        if not ready:
            raise ValueError(f"cycle among tasks {sorted(set(tasks) - set(order))}")
        order.extend(ready)
    return order


def _parameter_values(task: dict, params: dict) -> dict:
    values = {}
    for name, p in task.get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" in p:
            values[name] = p["runtimeValue"]["constant"]
        elif "componentInputParameter" in p:
            values[name] = params[p["componentInputParameter"]]
        else:
            raise NotImplementedError(f"parameter source {p} is not emulated")
    return values


def run_pipeline(
    package: str, run_id: str, work_dir: str, params: dict | None = None, env: dict | None = None
) -> dict[str, TaskResult]:
    """Runs every task of `package`; stops at the first failing task."""
    spec, _ = load(package)
    root_params = {
        name: p.get("defaultValue")
        for name, p in spec["root"].get("inputDefinitions", {}).get("parameters", {}).items()
    }
    root_params.update(params or {})
    run_root = f"{spec['defaultPipelineRoot']}/{spec['pipelineInfo']['name']}/{run_id}"
    tasks = spec["root"]["dag"]["tasks"]
    results: dict[str, TaskResult] = {}
    for name in task_order(spec):
        task = tasks[name]
        component = spec["components"][task["componentRef"]["name"]]
        container = spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
        inputs = {
            key: {
                "artifacts": results[a["taskOutputArtifact"]["producerTask"]].outputs[
                    a["taskOutputArtifact"]["outputArtifactKey"]
                ]
            }
            for key, a in task.get("inputs", {}).get("artifacts", {}).items()
        }
        outputs = {
            key: {
                "artifacts": [
                    {
                        "name": f"{run_id}-{name}-{key}",
                        "type": out["artifactType"],
                        "uri": f"{run_root}/{name}/{key}",
                        "metadata": {},
                    }
                ]
            }
            for key, out in component.get("outputDefinitions", {}).get("artifacts", {}).items()
        }
        output_file = os.path.join(work_dir, run_id, name, "executor_output.json")
        os.makedirs(os.path.dirname(output_file), exist_ok=True)
        executor_input = {
            "inputs": {
                "parameterValues": _parameter_values(task, root_params),
                "artifacts": inputs,
            },
            "outputs": {"artifacts": outputs, "outputFile": output_file},
        }
        argv = list(container["command"]) + [
            json.dumps(executor_input) if a == "{{$}}" else a for a in container["args"]
        ]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        produced = {k: v["artifacts"] for k, v in outputs.items()}
        if proc.returncode == 0 and os.path.exists(output_file):
            with open(output_file) as f:
                executor_output = json.load(f)
            # The launcher records what the executor reports (uri, metadata) under
            # the output's declared type; the next driver passes it on as such.
            for key, value in executor_output.get("artifacts", {}).items():
                declared = produced[key][0]["type"]
                produced[key] = [{**a, "type": declared} for a in value["artifacts"]]
        results[name] = TaskResult(proc.returncode, produced, proc.stdout + proc.stderr)
        if proc.returncode != 0:
            break
    return results


def pod_env(extra: dict | None = None) -> dict:
    """The container's environment: the project's interpreter first on PATH
    (the spec's command is `python -m ...`) and the image's ENV settings."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["TF_USE_LEGACY_KERAS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra or {})
    return env
