"""Compiles the same pipeline definitions for Kubeflow Pipelines v2.

Only the runner differs from the local run: `create_image_pipeline` /
`create_rl_pipeline` are called with the same config objects the local runner
uses, plus pipeline-level runtime parameters. TFX's KubeflowV2DagRunner writes
the spec; this module then fits it to the target:

- `kfp` (open-source Kubeflow Pipelines v2, the default): pipeline spec schema
  2.1 (parameters arrive in `parameterValues`), written as the YAML package
  `kfp.Client` reads: the PipelineSpec, then a PlatformSpec document with
  PersistentVolumeClaim mounts when asked. Executors OSS KFP cannot run
  (`resolver`, `importer`) are refused.
- `vertex` (Vertex AI Pipelines): TFX's PipelineJob JSON as written.

On both: CPU and memory requests on every task, an accelerator on the
trainers when asked, the pipeline root as the spec's default.

On `kfp` also: the pipeline root must be one KFP's launcher accepts
(kubeflow.objectstore); every TFX task runs through kubeflow.executor (the
launcher's local artifact paths, Beam workers sized to the pod); GPU node
selector and toleration in the PlatformSpec; and caching that saves work
without hiding new data: an uncached InputFingerprint task feeds the data's
span and fingerprint into ImageExampleGen's cache key, so unchanged data and
config are served from the cache from ingest on, and new files rerun it.
ServedBaseline (reads the serving base) and DqnTrainer (a scheduled RL run
is meant to train again) are never cached.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from absl import logging

from components.atomic_pusher import constants as pusher_constants
from kubeflow import fingerprint
from kubeflow.cluster import (
    TRAINER_TASKS,
    ClusterConfig,
    gpu_scheduling,
    resources_for,
    retry_policy,
)
from kubeflow.executor import CPU_REQUEST_ENV, TFX_ENTRYPOINT
from kubeflow.objectstore import check_pipeline_root
from pipeline.params import UNCACHED_COMPONENT_IDS

KFP_BEAM_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")
# Beam args by which TFX's BaseBeamExecutor knows the workers already have TFX
# (tfx.utils.dependency_utils.make_beam_dependency_flags).
TFX_DEPENDENCY_FLAGS = (
    "extra_packages",
    "setup_file",
    "requirements_file",
    "worker_harness_container_image",
    "sdk_container_image",
)
# Executor kinds open-source KFP's backend runs; TFX may also emit `resolver`
# and `importer`, which it answers with "not implemented".
OSS_EXECUTOR_KINDS = ("container",)
NEVER_CACHED_ON_KFP = (*UNCACHED_COMPONENT_IDS, "DqnTrainer")
POD_ENTRYPOINT = ["python", "-m", "kubeflow.executor"]
INGEST_TASK = "ImageExampleGen"
# DqnTrainer keeps checkpoints under the pipeline root locally; an object-store
# root is reachable only through the launcher's artifact transfers, so on KFP
# they go inside the model artifact (DqnTrainer's fallback for an empty base).
CHECKPOINT_PARAMETER = ("DqnTrainer", "checkpoint_base")


def build_pipeline(name: str, config: Any, beam_pipeline_args: list[str]):
    """The `tfx.dsl.Pipeline` for 'image' or 'rl' with runtime parameters."""
    if name == "image":
        from pipeline.image_pipeline import create_image_pipeline

        return create_image_pipeline(
            config, beam_pipeline_args=beam_pipeline_args, runtime_parameters=True
        )
    if name == "rl":
        from pipeline.rl_pipeline import create_rl_pipeline

        return create_rl_pipeline(
            config, beam_pipeline_args=beam_pipeline_args, runtime_parameters=True
        )
    raise ValueError(f"unknown pipeline {name!r}; expected 'image' or 'rl'")


def compile_pipeline(
    name: str,
    config: Any,
    cluster: ClusterConfig,
    output_file: str,
    beam_pipeline_args: list[str] | None = None,
) -> str:
    """Writes the package for `cluster.target` and returns its path.

    `config` is the pipeline's own config object (ImagePipelineConfig or
    RlPipelineConfig), with paths as the pods see them.
    """
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfp_v2

    cluster.check_output_file(output_file)
    beam_args = with_sdk_container(list(beam_pipeline_args or KFP_BEAM_ARGS), cluster.image)
    pipeline = build_pipeline(name, config, beam_args)
    root = pipeline.pipeline_info.pipeline_root
    if cluster.target == "kfp":
        check_pipeline_root(root)
    elif not root.startswith("gs://"):
        raise ValueError(f"--pipeline-root {root!r}: Vertex AI Pipelines takes a gs:// root")
    with tempfile.TemporaryDirectory() as tmp:
        runner = kfp_v2.KubeflowV2DagRunner(
            config=kfp_v2.KubeflowV2DagRunnerConfig(
                default_image=cluster.image,
                use_pipeline_spec_2_1=cluster.target == "kfp",
            ),
            output_dir=tmp,
            output_filename="job.json",
        )
        defaults = runtime_defaults(pipeline)
        runner.run(pipeline, parameter_values=defaults, write_out=True)
        with open(os.path.join(tmp, "job.json")) as f:
            job = json.load(f)
    spec = job["pipelineSpec"]
    fit_spec(spec, cluster, pipeline_root=pipeline.pipeline_info.pipeline_root)
    if cluster.target == "kfp":  # kfp.Client reads defaults from the spec itself
        for name, param in spec["root"].get("inputDefinitions", {}).get("parameters", {}).items():
            param["defaultValue"] = defaults[name]
            param["isOptional"] = True
    out_dir = os.path.dirname(os.path.abspath(output_file))
    os.makedirs(out_dir, exist_ok=True)
    if cluster.target == "vertex":
        _write_atomic(output_file, json.dumps(job, indent=2, sort_keys=True))
    else:
        _write_atomic(output_file, to_kfp_package(spec, platform_spec(spec, cluster)))
    logging.info("compiled %s pipeline for %s to %s", name, cluster.target, output_file)
    return output_file


def with_sdk_container(beam_args: list[str], image: str) -> list[str]:
    """`beam_args`, plus `--sdk_container_image=IMAGE` for the DirectRunner.

    Given Beam args that name no worker dependencies, every TFX Beam executor
    copies its own install (49 MB) into a temporary folder and builds an sdist
    of it for the workers: 3-6 s of every Beam task, and the copy stays on the
    pod's disk. The DirectRunner's workers run in the task's own container, so
    naming that image as the SDK container is true and tells TFX so. Other
    runners (Dataflow, Flink) get TFX's own packaging unless the args say
    otherwise: their workers need an SDK harness image.
    """
    from apache_beam.options.pipeline_options import PipelineOptions  # compile time only

    options = PipelineOptions(flags=beam_args).get_all_options()
    if any(options.get(flag) for flag in TFX_DEPENDENCY_FLAGS):
        return beam_args
    if options.get("runner") not in (None, "DirectRunner", "direct"):
        return beam_args
    return [*beam_args, f"--sdk_container_image={image}"]


def runtime_defaults(pipeline: Any) -> dict[str, Any]:
    """Default value of every RuntimeParameter the pipeline's components use."""
    from tfx.orchestration import data_types

    out = {}
    for component in pipeline.components:
        for value in component.exec_properties.values():
            if isinstance(value, data_types.RuntimeParameter):
                out[value.name] = value.default
    return out


def fit_spec(spec: dict, cluster: ClusterConfig, pipeline_root: str) -> None:
    """Resources, entrypoint, caching and pipeline root for the target (in place)."""
    tasks = spec["root"]["dag"]["tasks"]
    executors = spec["deploymentSpec"]["executors"]
    if cluster.target == "kfp":
        kinds = {label: next(iter(e)) for label, e in executors.items()}
        bad = {label: kind for label, kind in kinds.items() if kind not in OSS_EXECUTOR_KINDS}
        if bad:
            raise ValueError(
                f"executors open-source Kubeflow Pipelines cannot run: {bad}; "
                "the pipelines must not contain Resolver or Importer nodes"
            )
    for task_name, task in tasks.items():
        label = spec["components"][task["componentRef"]["name"]]["executorLabel"]
        container = executors[label].get("container")
        if container is not None:
            container["resources"] = resources_for(task_name, cluster)
            if cluster.target == "kfp":
                _fit_container(container)
        if task_name in NEVER_CACHED_ON_KFP:
            task["cachingOptions"] = {"enableCache": False}
    if cluster.target == "kfp" and INGEST_TASK in tasks:
        add_fingerprint_task(spec, cluster)
    if retry_policy(cluster):
        for task in tasks.values():
            task["retryPolicy"] = retry_policy(cluster)
    task_name, key = CHECKPOINT_PARAMETER
    if cluster.target == "kfp" and task_name in tasks:
        tasks[task_name]["inputs"]["parameters"][key] = {"runtimeValue": {"constant": ""}}
    if pusher_constants.PUSHER_ID in tasks:
        record_image(tasks[pusher_constants.PUSHER_ID], cluster.image)
    spec["defaultPipelineRoot"] = pipeline_root


def record_image(pusher: dict, image: str) -> None:
    """The image every task runs, in the Pusher's custom_config: the pushed
    model's provenance then names the code that made it by digest."""
    value = pusher["inputs"]["parameters"].get("custom_config", {}).get("runtimeValue", {})
    if isinstance(value.get("constant"), str):
        config = json.loads(value["constant"] or "{}")
        config[pusher_constants.IMAGE_CONFIG] = image
        value["constant"] = json.dumps(config, sort_keys=True)


def _fit_container(container: dict) -> None:
    """TFX's entrypoint through kubeflow.executor; the CPU request visible to Beam sizing."""
    if container.get("command", [])[-1:] == [TFX_ENTRYPOINT]:
        container["command"] = list(POD_ENTRYPOINT)
    cpu = container["resources"]["cpuRequest"]
    container["env"] = [{"name": CPU_REQUEST_ENV, "value": str(cpu)}]


def add_fingerprint_task(spec: dict, cluster: ClusterConfig) -> None:
    """Adds InputFingerprint (never cached) and keys ImageExampleGen's cache on its output."""
    ingest = spec["root"]["dag"]["tasks"][INGEST_TASK]
    ingest_component = spec["components"][ingest["componentRef"]["name"]]
    string = {"parameterType": "STRING"}
    name, label = fingerprint.TASK, f"{fingerprint.TASK}_executor"
    spec["components"][name] = {
        "executorLabel": label,
        "inputDefinitions": {"parameters": {k: string for k in fingerprint.INPUT_PARAMETERS}},
        "outputDefinitions": {"parameters": {fingerprint.OUTPUT: string}},
    }
    resources = resources_for(name, cluster)
    spec["deploymentSpec"]["executors"][label] = {
        "container": {
            "image": cluster.image,
            "command": ["python", "-m", "kubeflow.fingerprint"],
            "args": ["--json_serialized_invocation_args", "{{$}}"],
            "resources": resources,
            "env": [{"name": CPU_REQUEST_ENV, "value": str(resources["cpuRequest"])}],
        }
    }
    params = ingest["inputs"]["parameters"]
    spec["root"]["dag"]["tasks"][name] = {
        "taskInfo": {"name": name},
        "componentRef": {"name": name},
        "inputs": {"parameters": {k: params[k] for k in fingerprint.INPUT_PARAMETERS}},
        "cachingOptions": {"enableCache": False},
    }
    params[fingerprint.OUTPUT] = {
        "taskOutputParameter": {"producerTask": name, "outputParameterKey": fingerprint.OUTPUT}
    }
    ingest_component["inputDefinitions"]["parameters"][fingerprint.OUTPUT] = string
    ingest["dependentTasks"] = sorted({*ingest.get("dependentTasks", []), name})
    ingest["cachingOptions"] = {"enableCache": True}


def platform_spec(spec: dict, cluster: ClusterConfig) -> dict:
    """kfp-kubernetes' PlatformSpec: PVC mounts into every executor, GPU scheduling on the trainers."""
    mounts = [{"constant": claim, "mountPath": path} for claim, path in cluster.pvc_mounts]
    gpu = gpu_scheduling(cluster)
    executors = {}
    for task_name, task in spec["root"]["dag"]["tasks"].items():
        label = spec["components"][task["componentRef"]["name"]]["executorLabel"]
        config: dict = {"pvcMount": mounts} if mounts else {}
        if cluster.timeout_seconds:  # kubernetes.set_timeout(task, seconds)
            config["activeDeadlineSeconds"] = str(cluster.timeout_seconds)
        if task_name in TRAINER_TASKS:
            config.update(gpu)
        if config:
            executors[label] = config
    if not executors:
        return {}
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}


def to_kfp_package(spec: dict, platform: dict) -> str:
    """The YAML package `kfp.Client` reads: PipelineSpec, then the PlatformSpec."""
    import yaml

    docs = [spec] + ([platform] if platform else [])
    return yaml.safe_dump_all(docs, sort_keys=True)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def load_package(path: str) -> tuple[Any, Any]:
    """Parses a compiled package into kfp's (PipelineSpec, PlatformSpec) protos.

    Accepts the YAML written for `kfp` and the PipelineJob JSON written for
    `vertex`. Raises ValueError naming the file if it is not a valid spec.
    """
    import yaml
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    try:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read a pipeline package ({e})") from e
    if not docs or not isinstance(docs[0], dict):
        raise ValueError(f"{path}: empty or not a pipeline package")
    first = docs[0].get("pipelineSpec", docs[0])
    platform = {}
    for doc in docs[1:]:
        platform.update(doc)
    try:
        spec = json_format.ParseDict(first, pipeline_spec_pb2.PipelineSpec())
        plat = json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
    except json_format.ParseError as e:
        raise ValueError(f"{path}: not a Kubeflow PipelineSpec: {e}") from e
    if not spec.root.dag.tasks:
        raise ValueError(f"{path}: the pipeline spec has no tasks")
    return spec, plat
