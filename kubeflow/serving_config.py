"""The TF Serving ConfigMap for the models compiled packages push.

The `tensorflow/serving` Deployment in serving/k8s/ serves what its ConfigMap's
`models.config` lists. Rather than editing model names into it by hand, this
reads them from the compiled packages: each Pusher's push destination is
`<serving base>/<model name>`, and the package's PlatformSpec says which
claim is mounted where in the pipeline's pods. The Deployment mounts the
claim at /models, so `/data/models/image_classifier` in a pod whose claim is
at /data is `/models/models/image_classifier` in the server; a gs:// or s3://
serving base is read by TF Serving directly.

    python -m kubeflow.serving_config image.yaml rl.yaml > configmap.yaml
    kubectl apply -f configmap.yaml
"""

from __future__ import annotations

import json
import os
import posixpath
import sys

import yaml

from kubeflow.kfp_local import load
from serving.deploy import CONTAINER_MODEL_BASE, K8S_DIR

PUSHER_TASK = "Pusher"


def pushed_models(package: str) -> list[tuple[str, str]]:
    """(model name, model directory as the pods see it) of the package's Pusher."""
    spec, _ = load(package)
    task = spec["root"]["dag"]["tasks"].get(PUSHER_TASK)
    if task is None:
        raise ValueError(f"{package}: no {PUSHER_TASK} task; expected a `vrl compile` package")
    value = task["inputs"]["parameters"]["push_destination"]["runtimeValue"]["constant"]
    model_dir = json.loads(value)["filesystem"]["base_directory"].rstrip("/")
    return [(posixpath.basename(model_dir), model_dir)]


def claim_mounts(package: str) -> list[str]:
    """Mount paths of the claims the package's PlatformSpec mounts into its pods."""
    _, platform = load(package)
    executors = (platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})).get(
        "executors", {}
    )
    return sorted(
        {m["mountPath"] for e in executors.values() for m in e.get("pvcMount", [])},
        key=len,
        reverse=True,
    )


def server_path(model_dir: str, mounts: list[str], container_base: str) -> str:
    """Where the serving container finds `model_dir` (a path on a claim, or a URI)."""
    if "://" in model_dir:
        return model_dir
    for mount in mounts:
        if model_dir == mount or model_dir.startswith(mount.rstrip("/") + "/"):
            rel = os.path.relpath(model_dir, mount)
            return posixpath.join(container_base, rel)
    raise ValueError(
        f"{model_dir}: the serving base is on no claim the pipeline mounts; compile with "
        "--pvc CLAIM:/mount (the claim the serving Deployment mounts) or a gs:// base"
    )


def models_config(packages: list[str], container_base: str = CONTAINER_MODEL_BASE) -> str:
    """TF Serving's text-proto ModelServerConfig for every model the packages push."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    seen: set[str] = set()
    for package in packages:
        mounts = claim_mounts(package)
        for name, model_dir in pushed_models(package):
            if name in seen:
                continue
            seen.add(name)
            entry = config.model_config_list.config.add()
            entry.name = name
            entry.base_path = server_path(model_dir, mounts, container_base)
            entry.model_platform = "tensorflow"
            entry.model_version_policy.latest.num_versions = 1
    return text_format.MessageToString(config)


def configmap(packages: list[str]) -> str:
    """serving/k8s/configmap.yaml with `models.config` for the packages' models."""
    with open(os.path.join(K8S_DIR, "configmap.yaml")) as f:
        doc = yaml.safe_load(f)
    doc["data"]["models.config"] = models_config(packages)
    return yaml.safe_dump(doc, sort_keys=False)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m kubeflow.serving_config PACKAGE.yaml [PACKAGE.yaml ...]")
    try:
        sys.stdout.write(configmap(sys.argv[1:]))
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"error: {e}")
