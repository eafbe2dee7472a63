"""Checks a local run makes before it writes anything or starts a component.

The config objects check each value on its own (`__post_init__`); these need
the filesystem or gymnasium, so the local runner calls them. Each raises
ValueError or OSError with one line naming the field and the path or value,
which `vrl` prints as `vrl: error: ...` with exit 2.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile

from contracts.files import FOLDER_PATTERN, SPAN_FOLDER_PATTERN, SPAN_FOLDER_PREFIX
from contracts.manifest import decode_manifest

# Class-per-folder patterns as `detect_input_pattern` writes them.
_CLASS_PER_FOLDER = (FOLDER_PATTERN, SPAN_FOLDER_PATTERN)
_SPAN_DIR = re.compile(re.escape(SPAN_FOLDER_PREFIX) + r"(\d+)")


def _is_uri(path: str) -> bool:
    return "://" in path


def _shown(name: str) -> str:
    """A file name as text, undecodable bytes as \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def check_writable(field: str, path: str) -> None:
    """Fails unless a run could create `path` (or files in it) as a folder.

    Probes the nearest existing ancestor by creating and removing an empty
    folder, since as root `os.access` says yes even on a read-only mount.
    Remote URIs are left to their filesystem client.
    """
    if _is_uri(path):
        return
    path = os.path.abspath(path)
    probe = path
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise NotADirectoryError(f"{field} {path}: cannot be created, {probe} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".vrl-write-check-", dir=probe))
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise PermissionError(f"{field} {path}: not writable ({probe}: {reason})") from None


def check_exists(field: str, path: str | None, folder: bool = False) -> None:
    """Fails unless a local `path` exists (as a folder when `folder`)."""
    if not path or _is_uri(path):
        return
    if not (os.path.isdir(path) if folder else os.path.isfile(path)):
        kind = "folder" if folder else "file"
        raise FileNotFoundError(f"{field} {path}: no such {kind}")


def _span_folder(data_dir: str, pattern: str, span: int | None) -> str:
    """The folder a run reads: `data_dir`, or for a `span-{SPAN}/...` pattern the
    span-N/ folder of `span` (default the newest)."""
    if not pattern.startswith(SPAN_FOLDER_PREFIX):
        return data_dir
    spans = {
        int(m.group(1)): name
        for name in os.listdir(data_dir)
        if (m := _SPAN_DIR.fullmatch(name)) and os.path.isdir(os.path.join(data_dir, name))
    }
    if not spans:
        raise ValueError(f"data_dir {data_dir}: no span-N/ folders for pattern {pattern!r}")
    if span is not None and span not in spans:
        raise ValueError(
            f"span {span}: no span-{span}/ folder in {data_dir} (found spans {sorted(spans)})"
        )
    return os.path.join(data_dir, spans[max(spans) if span is None else span])


def check_class_folders(data_dir: str, pattern: str, span: int | None) -> None:
    """For a class-per-folder layout, at least two class folders must hold files.

    Looks at the span that will be processed (`span`, or the latest). Other
    layouts (CSV manifest, TFRecords) are counted by ingest, which fails with
    the same kind of message.
    """
    if _is_uri(data_dir) or pattern not in _CLASS_PER_FOLDER:
        return
    folder = _span_folder(data_dir, pattern, span)
    classes = sorted(
        _shown(name)
        for name in os.listdir(folder)
        if not name.startswith(".") and _holds_a_file(os.path.join(folder, name))
    )
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "none"
        raise ValueError(
            f"data_dir {folder}: a classifier needs at least 2 class folders holding images "
            f"(<data>/<class>/<image>), found {found}"
        )


def check_manifests(data_dir: str, pattern: str, span: int | None) -> None:
    """For a CSV manifest layout, every manifest the run reads must be UTF-8 (ingest's
    rule, `contracts.manifest`): a Latin-1 file fails here naming file and line,
    not inside ImageExampleGen half a minute later."""
    if _is_uri(data_dir) or not pattern.lower().endswith(".csv"):
        return
    folder = _span_folder(data_dir, pattern, span)
    for path in sorted(glob.glob(os.path.join(folder, pattern.rsplit("/", 1)[-1]))):
        with open(path, "rb") as f:
            decode_manifest(f.read(), path)


def check_schema(path: str | None) -> None:
    """A `--schema` file must parse as a text-format TFDV schema (tensorflow_metadata's
    Schema proto; no TensorFlow needed)."""
    if not path or _is_uri(path):
        return
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    with open(path, "rb") as f:
        data = f.read()
    try:
        text_format.Parse(data.decode("utf-8"), schema_pb2.Schema())
    except (UnicodeDecodeError, text_format.ParseError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(
            f"schema_path {path}: not a text-format TFDV schema ({reason}); "
            "write one with tfdv.write_schema_text"
        ) from None


def _holds_a_file(folder: str) -> bool:
    if not os.path.isdir(folder):
        return False
    with os.scandir(folder) as entries:
        return any(not e.name.startswith(".") and e.is_file() for e in entries)


def check_env_id(env_id: str) -> None:
    """Fails unless `env_id` is a registered gymnasium id, without creating the env
    (`vrl compile rl`: the pods create it; an unknown id would fail only there)."""
    from models.dqn.gym_envs import check_registered

    try:
        check_registered(env_id)
    except ValueError as e:
        raise ValueError(f"env_id {env_id!r}: {e}") from None


def check_env(
    env_id: str,
    replay_capacity: int | None = None,
    num_env_steps: int | None = None,
    num_envs: int | str = 1,
) -> None:
    """Fails unless `env_id` is a registered gymnasium env with discrete actions
    and a vector or uint8 image observation (Atari and MinAtar ids included):
    `models.dqn.gym_envs.make_gym` checks it, with gymnasium alone, without
    importing TensorFlow. For image envs, also fails when the replay memory the
    trainer will allocate (`replay_capacity`, or fewer for a run of
    `num_env_steps` over `num_envs` streams) will not fit in the available memory."""
    from models.dqn.config import resolve_num_envs
    from models.dqn.gym_envs import frames_per_observation, make_gym
    from models.dqn.memory import check_budget, replay_transitions

    try:
        env = make_gym(env_id)
    except ValueError as e:
        raise ValueError(f"env_id {env_id!r}: {e}") from None
    shape = env.observation_space.shape
    env.close()
    if replay_capacity is not None and len(shape) == 3:
        frame = (*shape[:2], shape[2] // frames_per_observation(env_id))
        # 'auto' as if a GPU were present (no TensorFlow here): the larger count,
        # which rounds the run up by at most a batch of steps.
        streams = resolve_num_envs(num_envs, has_gpu=True)
        transitions = replay_capacity
        if num_env_steps is not None:
            transitions = replay_transitions(replay_capacity, num_env_steps, streams)
        try:
            check_budget(transitions, frame, num_envs=streams)
        except MemoryError as e:
            raise ValueError(f"{env_id}: {e}") from None
