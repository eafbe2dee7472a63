"""The serving base as TF Serving reads it, and the push protocol's marks in it.

Layout: `<base>/<model>/<version>/` holding a SavedModel, versions numbered by
Unix time (TFX's convention) and strictly increasing. The atomic pusher stages
a copy in `<model>/.staging-<version>-<id>` (not a number, so TF Serving skips
it), renames it to `<version>/` and then writes the push marker
`<version>/assets.extra/vrl_push_complete.json`; the provenance
`assets.extra/vrl_provenance.json` is inside the copy before the rename. TF
Serving ignores unknown files in `assets.extra/`.

Readers (the local server, the served baseline, the `vrl` commands) take a
version only once its marker exists, unless no version of the model has a
marker (a base written by other tools): `complete_versions`.

Paths are local folders or URIs (`gs://`, `s3://`, `ram://`); local folders are
read with `os`, URIs through `tf.io.gfile`, imported on first use so this
module stays importable without TensorFlow.
"""

from __future__ import annotations

import errno
import os
import posixpath
import time

EXTRA_DIR = "assets.extra"
"""Folder of a version TF Serving ignores unknown files in (its warmup file lives there)."""
PUSH_MARKER_NAME = "vrl_push_complete.json"
PUSH_MARKER_FILE = f"{EXTRA_DIR}/{PUSH_MARKER_NAME}"
"""Written last by the pusher: the version is complete."""
SERVE_TAGS = ("serve",)
"""Tag set of the SavedModel meta graph a server loads (tf.saved_model.SERVING; TF
Serving's --saved_model_tags default)."""
PROVENANCE_NAME = "vrl_provenance.json"
PROVENANCE_FILE = f"{EXTRA_DIR}/{PROVENANCE_NAME}"
"""Where the model came from; inside the copy before it becomes visible."""
ALREADY_SERVED_PROPERTY = "already_served"
"""PushedModel custom property: 1 when the run's model was identical to a version
already served, which the pusher then names as pushed (TFX's `pushed`, the model is
at the destination) without writing it again; 0 for a new version."""
STAGING_PREFIX = ".staging-"
"""A push in progress: `<model>/.staging-<version>-<id>/`."""
GRAPH_FILES = ("saved_model.pb", "saved_model.pbtxt")
"""A SavedModel's graph file; a version folder without one is not a model."""


class PushSpaceError(OSError):
    """A push ran out of space (ENOSPC) at its destination; the served versions are
    untouched and nothing half-written is left. `vrl` prints it as one line and
    exits with `exit_code`: a blessed model that was not pushed (as the README says
    of `vrl run`)."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errno = errno.ENOSPC


def is_uri(path: str) -> bool:
    """Whether `path` is a URI (gs://, ram://, ...) rather than a local path."""
    return "://" in path


def join(*parts: str) -> str:
    """Path join that keeps URIs (gs://, ram://) intact."""
    return posixpath.join(*parts) if is_uri(parts[0]) else os.path.join(*parts)


def _tf():
    # TensorFlow on first use of a URI only: contracts stay importable without it.
    import tensorflow as tf

    return tf


def listdir(path: str) -> list[str]:
    """Entry names of a folder ([] when it does not exist)."""
    if not is_uri(path):
        return os.listdir(path) if os.path.isdir(path) else []
    tf = _tf()
    try:
        return [n.rstrip("/") for n in tf.io.gfile.listdir(path)]
    except tf.errors.NotFoundError:
        return []


def exists(path: str) -> bool:
    """Whether a file or folder exists."""
    return _tf().io.gfile.exists(path) if is_uri(path) else os.path.exists(path)


def has_marker(version_dir: str) -> bool:
    """Whether a version folder holds the pusher's completion marker."""
    return exists(join(version_dir, EXTRA_DIR, PUSH_MARKER_NAME))


def has_graph(version_dir: str) -> bool:
    """Whether a version folder holds a SavedModel graph file."""
    return any(exists(join(version_dir, g)) for g in GRAPH_FILES)


def is_version_name(name: str) -> bool:
    """A version folder's name: ASCII digits only ("²".isdigit() is True; int() refuses it)."""
    return name.isascii() and name.isdigit()


def numeric_versions(model_dir: str) -> list[int]:
    """Every numeric folder name under `model_dir`, ascending (complete or not).

    Local names that are not UTF-8 come back from os.listdir surrogate-escaped and
    are skipped as any other non-numeric name."""
    return sorted(int(n) for n in listdir(model_dir) if is_version_name(n))


def complete_versions(model_dir: str) -> list[int]:
    """Numeric version folders that are fully pushed, ascending.

    A version counts once its completion marker exists. A model folder in
    which no version has a marker was not written by this pusher (e.g. a
    plain TF Serving base); there every version holding a SavedModel counts.
    Hidden or non-numeric folders (a push's staging folder) are ignored, as
    TF Serving does.
    """
    versions = numeric_versions(model_dir)
    marked = [v for v in versions if has_marker(join(model_dir, str(v)))]
    if marked:
        return marked
    return [v for v in versions if has_graph(join(model_dir, str(v)))]


def unfinished_entries(model_dir: str) -> list[tuple[str, str]]:
    """Folders of `model_dir` a push left that are not complete versions, each with
    why (for `vrl status`): staging folders, and version folders without the push
    marker (while other versions have one) or without a graph. Servers skip them."""
    complete = set(complete_versions(model_dir))
    out = []
    for name in listdir(model_dir):
        path = join(model_dir, name)
        if name.startswith(STAGING_PREFIX):
            why = (
                "staging folder of a push in progress or killed mid-copy; the next push removes it"
            )
        elif not is_version_name(name) or int(name) in complete:
            continue
        elif not has_graph(path):
            why = "no saved_model.pb; not a model"
        elif exists(join(path, PROVENANCE_FILE)):
            why = (
                "no push marker: a push in progress or one that died after the rename; "
                "not served, the next push removes it"
            )
        else:
            why = "no push marker and not written by the pusher; not served"
        out.append((name, why))
    return sorted(out, key=lambda entry: (not entry[0].isdigit(), entry[0].zfill(20)))


def next_version(model_dir: str, now: int | None = None) -> int:
    """Returns a version number greater than every version already in `model_dir`.

    Versions are Unix timestamps (TFX's convention); if the clock has not moved
    past the newest existing version (two pushes in one second, clock skew), the
    newest version plus one is used so versions stay strictly increasing.
    """
    now = int(time.time()) if now is None else now
    return max([now] + [v + 1 for v in numeric_versions(model_dir)])
