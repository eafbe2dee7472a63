"""Atomic, versioned copy of a SavedModel into a TF Serving model base path.

Works on any filesystem TensorFlow's gfile knows (local disk, a mounted
volume, `gs://`, `s3://`, `ram://` in tests). The push protocol:

1. copy the SavedModel into a hidden staging folder beside the versions
   (`.staging-<version>-<id>`: not a number, so TF Serving ignores it);
   with the provenance `assets.extra/vrl_provenance.json` written into it, so
   no version is ever visible without its provenance;
2. rename it to `<version>/` (one atomic rename on a local filesystem; on an
   object store a per-object copy with `saved_model.pb` moved last, so TF
   Serving never finds a version without its graph);
3. write the completion marker `<version>/assets.extra/vrl_push_complete.json`
   (TF Serving ignores unknown files in `assets.extra/`).

The layout, the version numbers and the marker are the contract in
`contracts.serving_base`, which readers (`complete_versions`: the local server,
the served baseline, `vrl` commands) import.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import posixpath
import shutil
import time
import uuid

import tensorflow as tf

from components.atomic_pusher.provenance import to_json
from contracts.serving_base import (
    EXTRA_DIR,
    GRAPH_FILES,
    PROVENANCE_FILE,
    PUSH_MARKER_FILE,
    PUSH_MARKER_NAME,
    STAGING_PREFIX,
    PushSpaceError,
    complete_versions,
    has_marker,
    is_uri,
    is_version_name,
    listdir,
    next_version,
)
from contracts.serving_base import join as _join


def _dirname(path: str) -> str:
    return posixpath.dirname(path) if is_uri(path) else os.path.dirname(path)


def _files(root: str) -> list[str]:
    """Every file under `root`, as paths relative to it (sorted)."""
    out = []
    for dirpath, _, filenames in tf.io.gfile.walk(root):
        rel_dir = dirpath[len(root) :].lstrip("/")
        out.extend(posixpath.join(rel_dir, f) if rel_dir else f for f in filenames)
    return sorted(out)


def remove_stale_staging(model_dir: str) -> list[str]:
    """Deletes staging folders left by killed pushes; returns their names."""
    removed = []
    for name in listdir(model_dir):
        if name.startswith(STAGING_PREFIX):
            tf.io.gfile.rmtree(_join(model_dir, name))
            removed.append(name)
    return removed


def remove_unfinished_versions(model_dir: str) -> list[str]:
    """Deletes versions a killed push renamed into place but never marked complete.

    Such a version holds this pusher's provenance (written while staging) and no
    completion marker; readers never take it once any version is marked. A version
    without provenance was not staged by this pusher and is left alone.
    """
    removed = []
    for name in listdir(model_dir):
        path = _join(model_dir, name)
        if not is_version_name(name) or has_marker(path):
            continue
        if tf.io.gfile.exists(_join(path, PROVENANCE_FILE)):
            tf.io.gfile.rmtree(path)
            removed.append(name)
    return removed


def _copy_tree(src: str, dst: str) -> None:
    for rel in _files(src):
        target = _join(dst, rel)
        tf.io.gfile.makedirs(_dirname(target))
        tf.io.gfile.copy(_join(src, rel), target, overwrite=True)


def _move_tree(src: str, dst: str) -> None:
    """Renames a folder: atomic on a local filesystem; on object stores object by
    object with the graph file last, so a reader never sees a graph without its
    variables."""
    if not is_uri(src) and not is_uri(dst):
        os.rename(src, dst)
        return
    files = _files(src)
    ordered = [f for f in files if f not in GRAPH_FILES] + [f for f in files if f in GRAPH_FILES]
    for rel in ordered:
        target = _join(dst, rel)
        tf.io.gfile.makedirs(_dirname(target))
        tf.io.gfile.rename(_join(src, rel), target, overwrite=False)
    tf.io.gfile.rmtree(src)


def _fsync_tree(root: str) -> None:
    """Flushes every file so a crash after the rename cannot expose empty files."""
    if is_uri(root):
        return
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


_BLOCK = 4096
"""A file takes whole filesystem blocks."""
_MARGIN_BYTES = 64 << 10
"""Room for the provenance and the marker, written beside the copied files."""


def tree_bytes(root: str) -> int:
    """Bytes the files under `root` take on disk (whole 4 KiB blocks each)."""
    sizes = (tf.io.gfile.stat(_join(root, rel)).length for rel in _files(root))
    return sum(-(-size // _BLOCK) * _BLOCK for size in sizes)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1024:.0f} KB"


def free_bytes(path: str) -> int | None:
    """Bytes free on the local filesystem that holds (or would hold) `path`; None for
    a URI (an object store reports no free space)."""
    if is_uri(path):
        return None
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return shutil.disk_usage(probe).free


def is_out_of_space(error: BaseException) -> bool:
    """ENOSPC as Python raises it, or as TensorFlow's file system does (RESOURCE_EXHAUSTED)."""
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return isinstance(error, tf.errors.ResourceExhaustedError)


def space_error(
    destination: str, needed: int, done: str = "", elsewhere: str = "serving base"
) -> PushSpaceError:
    """The one-line error for a push that does not fit: where, how much it needs, how
    much is free (measured now, after the partial copy was removed)."""
    free = free_bytes(destination)
    room = f"{_size(free)} free there" if free is not None else "free space unknown"
    return PushSpaceError(
        f"{done}no space to write {destination}: it needs {_size(needed)}, {room}; "
        f"free space on that filesystem or use another {elsewhere}"
    )


def _remove(path: str) -> None:
    if tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)


def _stage(saved_model_dir: str, staging: str, final: str, record: dict | None) -> None:
    """Steps 1 and 2 of the protocol: copy (with the provenance) and rename into place."""
    _copy_tree(saved_model_dir, staging)
    if record is not None:
        tf.io.gfile.makedirs(_join(staging, EXTRA_DIR))
        with tf.io.gfile.GFile(_join(staging, PROVENANCE_FILE), "w") as f:
            f.write(to_json(record))
    _fsync_tree(staging)
    _move_tree(staging, final)


def _mark(final: str, version: int) -> None:
    """Step 3: the completion marker."""
    marker = {"version": version, "pushed_at": int(time.time()), "digest": tree_digest(final)}
    tf.io.gfile.makedirs(_join(final, EXTRA_DIR))
    with tf.io.gfile.GFile(_join(final, EXTRA_DIR, PUSH_MARKER_NAME), "w") as f:
        f.write(json.dumps(marker))


def atomic_push(
    saved_model_dir: str,
    model_dir: str,
    version: int | None = None,
    provenance: dict | None = None,
) -> str:
    """Copies `saved_model_dir` to `<model_dir>/<version>/` atomically (see module doc).

    `provenance` (a JSON-able dict; its "version" is set to the pushed one) is
    written to `assets.extra/vrl_provenance.json` inside the staged copy.

    Returns:
      The final version path.
    Raises:
      FileNotFoundError: if `saved_model_dir` has no saved_model.pb.
      FileExistsError: if the version folder already exists.
      PushSpaceError: if the copy does not fit (checked before copying on a local
        disk, and when a write fails with ENOSPC); nothing of it is left behind.
    """
    if not tf.io.gfile.exists(_join(saved_model_dir, "saved_model.pb")):
        raise FileNotFoundError(
            f"{saved_model_dir}: no saved_model.pb; expected a TensorFlow SavedModel folder"
        )
    tf.io.gfile.makedirs(model_dir)
    remove_stale_staging(model_dir)
    remove_unfinished_versions(model_dir)
    version = next_version(model_dir) if version is None else version
    final = _join(model_dir, str(version))
    if tf.io.gfile.exists(final):
        raise FileExistsError(
            f"{final}: version already exists; refusing to overwrite a served model"
        )
    needed = tree_bytes(saved_model_dir) + _MARGIN_BYTES
    free = free_bytes(model_dir)
    if free is not None and needed > free:
        raise space_error(final, needed)
    staging = _join(model_dir, f"{STAGING_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    record = None if provenance is None else {**provenance, "version": version}
    try:
        _stage(saved_model_dir, staging, final, record)
        _mark(final, version)
    except BaseException as e:
        # `final` did not exist before: a version is there with its marker, or not at all.
        for leftover in (staging, final):
            _remove(leftover)
        if is_out_of_space(e):
            raise space_error(final, needed) from None
        raise
    return final


def tree_digest(path: str) -> str:
    """sha256 over every file's relative path and bytes.

    The push marker and the provenance are excluded: they differ between two
    pushes of the same model, which must still compare identical.
    """
    digest = hashlib.sha256()
    for rel in _files(path):
        if rel in (PUSH_MARKER_FILE, PROVENANCE_FILE):
            continue
        digest.update(rel.encode() + b"\0")
        with tf.io.gfile.GFile(_join(path, rel), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def latest_identical_version(saved_model_dir: str, model_dir: str) -> str | None:
    """The newest served version if it holds exactly the same files, else None.

    A re-run whose Evaluator blesses the model already in production (it is
    now its own baseline) must not push it again as a new version.
    """
    versions = complete_versions(model_dir)
    if not versions:
        return None
    latest = _join(model_dir, str(versions[-1]))
    return latest if tree_digest(latest) == tree_digest(saved_model_dir) else None
