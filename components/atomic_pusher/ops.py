"""Atomic, versioned copy of a SavedModel into a TF Serving model base path."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid


def next_version(model_dir: str, now: int | None = None) -> int:
    """Returns a version number greater than every version already in `model_dir`.

    Versions are Unix timestamps (TFX's convention); if the clock has not moved
    past the newest existing version (two pushes in one second, clock skew), the
    newest version plus one is used so versions stay strictly increasing.
    """
    now = int(time.time()) if now is None else now
    existing = [int(n) for n in _listdir(model_dir) if n.isdigit()]
    return max([now] + [v + 1 for v in existing])


def atomic_push(saved_model_dir: str, model_dir: str, version: int | None = None) -> str:
    """Copies `saved_model_dir` to `<model_dir>/<version>/` atomically.

    The copy is written to a hidden staging folder inside `model_dir` (same
    filesystem, and not a number, so TF Serving and the local server ignore it)
    and then renamed into place: a server polling `model_dir` sees either no
    new version or the complete one.

    Returns:
      The final version path.
    Raises:
      FileNotFoundError: if `saved_model_dir` has no saved_model.pb.
      FileExistsError: if the version folder already exists.
    """
    if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
        raise FileNotFoundError(
            f"{saved_model_dir}: no saved_model.pb; expected a TensorFlow SavedModel folder"
        )
    os.makedirs(model_dir, exist_ok=True)
    version = next_version(model_dir) if version is None else version
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(
            f"{final}: version already exists; refusing to overwrite a served model"
        )
    staging = os.path.join(model_dir, f".staging-{version}-{uuid.uuid4().hex[:8]}")
    try:
        shutil.copytree(saved_model_dir, staging)
        _fsync_tree(staging)
        os.rename(staging, final)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return final


def tree_digest(path: str) -> str:
    """sha256 over every file's relative path and bytes (order-independent of the walk)."""
    digest = hashlib.sha256()
    files = sorted(
        os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs
    )
    for rel in files:
        digest.update(rel.encode() + b"\0")
        with open(os.path.join(path, rel), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def latest_identical_version(saved_model_dir: str, model_dir: str) -> str | None:
    """The newest served version if it holds exactly the same files, else None.

    A re-run whose Evaluator blesses the model already in production (it is
    now its own baseline) must not push it again as a new version.
    """
    versions = sorted((int(n) for n in _listdir(model_dir) if n.isdigit()), reverse=True)
    if not versions:
        return None
    latest = os.path.join(model_dir, str(versions[0]))
    return latest if tree_digest(latest) == tree_digest(saved_model_dir) else None


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def _fsync_tree(root: str) -> None:
    """Flushes every file so a crash after the rename cannot expose empty files."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
