"""Pipelines and versions on the Kubeflow Pipelines server (`vrl submit --upload`),
and the package as it is sent (caching turned off for `--no-cache`)."""

from __future__ import annotations

import datetime
import os
import subprocess
from typing import Any

import yaml


def git_commit(
    path: str = os.path.dirname(os.path.abspath(__file__)), timeout: float = 10.0
) -> str | None:
    """Short commit of the checkout `path` is in; None outside a git checkout, without
    a git binary, or when git does not answer within `timeout` seconds (a version
    name without its commit, rather than a `vrl submit` that hangs)."""
    try:
        out = subprocess.run(
            ["git", "-C", path, "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def stamped(name: str, now: datetime.datetime | None = None) -> str:
    """'image-classifier 2026-12-06 03:00:00 UTC': runs and versions that tell apart."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return f"{name} {now:%Y-%m-%d %H:%M:%S} UTC"


def version_name(pipeline: str, commit: str | None) -> str:
    """The time, and the commit of the checkout `vrl submit` runs from, where known."""
    return stamped(pipeline) + (f" {commit}" if commit else "")


def upload_version(client: Any, package_path: str, pipeline: str, version: str) -> dict:
    """Uploads `package_path` as a new version of `pipeline` (created if new).

    Returns the run source kfp.Client takes: {'pipeline_id': ..., 'version_id': ...}.
    """
    pipeline_id = client.get_pipeline_id(pipeline)
    if pipeline_id is None:
        pipeline_id = client.upload_pipeline(package_path, pipeline_name=pipeline).pipeline_id
    uploaded = client.upload_pipeline_version(package_path, version, pipeline_id=pipeline_id)
    return {"pipeline_id": pipeline_id, "version_id": uploaded.pipeline_version_id}


def without_cache(package_path: str, out_dir: str) -> str:
    """A copy of the package with every task's caching off (what kfp's
    enable_caching=False does to a package it sends, also for an uploaded version)."""
    with open(package_path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    spec = docs[0].get("pipelineSpec", docs[0])
    for task in spec["root"]["dag"]["tasks"].values():
        task["cachingOptions"] = {"enableCache": False}
    out = os.path.join(out_dir, os.path.basename(package_path))
    with open(out, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=True)
    return out
