"""KFP's launcher rules for pipeline roots and artifact URIs, as its Go source
(backend/src/v2/objectstore and component/launcher_v2.go) writes them.

The launcher accepts a pipeline root only in the form
`SCHEME://BUCKET[/PREFIX]` with SCHEME one of gs, s3, minio, mem. Around every
executor it downloads each input artifact from the object store to a local
path (`gs://b/k` -> `/gcs/b/k`, `minio://b/k` -> `/minio/b/k`, `s3://b/k` ->
`/s3/b/k`), and after the executor it uploads each output artifact's local
path back to its URI. KFP's own SDK components use those local paths; the
pod entrypoint (kubeflow.executor) hands them to TFX the same way, so
executors reach artifacts through `tf.io.gfile` on local files and the
launcher, with the credentials the cluster gave it, does the transfers.
`ObjectStore` does those transfers against one S3 endpoint for the local
stand-in of the launcher (kubeflow.kfp_local).
"""

from __future__ import annotations

import os
import re

# KFP's default on a stock install: the MinIO bucket the launcher is configured for.
DEFAULT_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"
ROOT_SCHEMES = ("gs://", "s3://", "minio://", "mem://")
LOCAL_DIRS = {"gs://": "gcs", "minio://": "minio", "s3://": "s3"}
# Where the launcher's local paths start (the pod's filesystem root). A
# stand-in that runs tasks on one machine points it at a folder per task.
LOCAL_ROOT_ENV = "VRL_ARTIFACT_LOCAL_ROOT"
_BUCKET = re.compile(r"(^[a-z][a-z0-9]+:///?)([^/?]+)(/[^?]*)?(\?.+)?$")


def check_pipeline_root(root: str) -> None:
    """Raises ValueError unless KFP's launcher accepts `root` (ParseBucketConfig)."""
    m = _BUCKET.match(root)
    if not m or m.group(1) not in ROOT_SCHEMES:
        raise ValueError(
            f"--pipeline-root {root!r}: Kubeflow Pipelines' launcher takes only an object "
            "store root (gs://, s3:// or minio://BUCKET/PREFIX; the stock install's is "
            f"{DEFAULT_PIPELINE_ROOT}); mounted paths are for --data and --serving-base"
        )


def bucket_and_key(uri: str) -> tuple[str, str]:
    """'s3://b/a/c' -> ('b', 'a/c'), as the launcher's Config.KeyFromURI splits it."""
    m = _BUCKET.match(uri)
    if not m or m.group(1) not in ROOT_SCHEMES:
        raise ValueError(f"{uri!r} is not an object store URI")
    return m.group(2), (m.group(3) or "").lstrip("/")


def local_path_for_uri(uri: str, local_root: str | None = None) -> str | None:
    """The launcher's LocalPathForURI, under `local_root` (default: $VRL_ARTIFACT_LOCAL_ROOT or /).

    None for URIs the launcher does not transfer (local paths, mem://).
    """
    for scheme, folder in LOCAL_DIRS.items():
        if uri.startswith(scheme):
            root = local_root or os.environ.get(LOCAL_ROOT_ENV) or "/"
            return os.path.join(root, folder, uri[len(scheme) :])
    return None


class ObjectStore:
    """The launcher's side of the object store: one S3 endpoint for s3:// and minio://."""

    def __init__(self, endpoint_url: str, access_key: str, secret_key: str) -> None:
        import boto3

        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
        )

    def download(self, uri: str, local_dir: str) -> int:
        """Every object under `uri` into `local_dir` (objectstore.DownloadBlob); returns the count."""
        bucket, prefix = bucket_and_key(uri)
        count = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                rel = os.path.relpath(obj["Key"], prefix)
                if rel.startswith(".."):
                    continue  # a sibling sharing the prefix, not under it
                path = local_dir if rel == "." else os.path.join(local_dir, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                self.client.download_file(bucket, obj["Key"], path)
                count += 1
        return count

    def upload(self, local_path: str, uri: str) -> int:
        """A file or a folder's files to `uri` (objectstore.UploadBlob); returns the count."""
        bucket, key = bucket_and_key(uri)
        if os.path.isfile(local_path):
            self.client.upload_file(local_path, bucket, key)
            return 1
        count = 0
        for folder, _, files in os.walk(local_path):
            for name in files:
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, local_path).replace(os.sep, "/")
                self.client.upload_file(path, bucket, f"{key}/{rel}")
                count += 1
        return count
