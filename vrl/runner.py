"""Local (embedded default) runner: TFX LocalDagRunner, SQLite ML Metadata,
Beam DirectRunner."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


def metadata_path(pipeline_root: str) -> str:
    """SQLite ML Metadata file kept beside the pipeline outputs."""
    return os.path.join(pipeline_root, "metadata.sqlite")


def local_metadata_config(pipeline_root: str):
    """SQLite ML Metadata connection config beside the pipeline outputs."""
    from tfx.orchestration import metadata

    return metadata.sqlite_metadata_connection_config(metadata_path(pipeline_root))


def local_beam_args(direct_num_workers: int = 1) -> list[str]:
    """Beam DirectRunner args for one machine.

    in_memory mode measured ~2x faster and ~2.5x leaner than multi_processing
    on 2 cores for this pipeline's sizes. With one worker these are Beam's own
    defaults, so no args are passed at all: given any Beam arg, TFX's
    BaseBeamExecutor copies its own install (49 MB) into a temporary folder and
    builds an sdist of it for remote workers, once per Beam component per run
    (3-6 s each on 2 cores, and the copies are never removed), which the
    DirectRunner never installs.
    """
    if direct_num_workers == 1:
        return []
    return [
        "--runner=DirectRunner",
        "--direct_running_mode=in_memory",
        f"--direct_num_workers={direct_num_workers}",
    ]


def run_local(pipeline: Any) -> None:
    """Runs a `tfx.dsl.Pipeline` in-process with LocalDagRunner.

    Components that read state outside the pipeline (`UNCACHED_COMPONENT_IDS`:
    the served baseline) always run, whatever the pipeline's cache setting.
    Beam's pickles skip dill's per-pickle logger level reset and are stored
    uncompressed (`vrl.beam_pickler`), Beam asks Python for a function's arguments
    once (`vrl.beam_signatures`) and parses its options once per options class
    (`vrl.beam_options`).
    """
    from tfx.dsl.compiler import compiler
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.params import UNCACHED_COMPONENT_IDS
    from vrl.beam_options import cache_option_views
    from vrl.beam_pickler import skip_unchanged_dill_levels, store_pickles_uncompressed
    from vrl.beam_signatures import cache_function_arguments

    skip_unchanged_dill_levels()
    store_pickles_uncompressed()
    cache_function_arguments()
    cache_option_views()

    ir = compiler.Compiler().compile(pipeline)
    for node in ir.nodes:
        if node.pipeline_node.node_info.id in UNCACHED_COMPONENT_IDS:
            node.pipeline_node.execution_options.caching_options.enable_cache = False
    LocalDagRunner().run_with_ir(ir)


LOCK_FILE = ".vrl-run.lock"
"""Lock file in the pipeline root while a local run holds it (JSON: pid, host, start)."""


class PipelineBusy(BlockingIOError):
    """Another run holds the pipeline root's lock."""


def _owner_text() -> str:
    import json
    import socket
    import time

    return json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    )


def _read_owner(fd: int) -> dict:
    """The owner recorded in an open lock file ({} when empty or unreadable)."""
    import json

    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        owner = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"unreadable": raw[:80].decode("utf-8", "backslashreplace")}
    return owner if isinstance(owner, dict) else {}


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _describe(owner: dict) -> str:
    return (
        f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}, "
        f"started {owner.get('started', '?')}"
    )


def _flock(fd: int) -> bool | None:
    """True when the lock was taken, False when another process holds it, None
    when the filesystem has no flock (then the recorded owner decides)."""
    import errno
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return None
        raise
    return True


@contextlib.contextmanager
def pipeline_lock(pipeline_root: str) -> Iterator[dict]:
    """Holds `<pipeline_root>/.vrl-run.lock` for one run; yields the stale owner
    taken over ({} when the lock was free).

    The kernel's flock decides (it is released when the holder dies, so a
    killed run never blocks the next one); the file records pid, host and
    start time for the message. Where flock is missing, a recorded owner that
    is alive, or on another host, keeps the lock. Raises PipelineBusy naming
    the holder.
    """
    import socket

    path = os.path.join(pipeline_root, LOCK_FILE)
    host = socket.gethostname()
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        locked = _flock(fd)
        owner = _read_owner(fd)
        if (
            locked is None
            and owner.get("pid")
            and (owner.get("host") != host or _pid_alive(owner.get("pid")))
        ):
            locked = False
        if locked is False:
            os.close(fd)
            raise PipelineBusy(
                f"pipeline root {pipeline_root} is in use by another run ({_describe(owner)}); "
                f"wait for it to finish (if that process is gone, delete {path})"
            )
        # The previous holder removes the file before unlocking: if it did so after
        # we opened it, our lock is on a deleted file; open the new one.
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev):
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, _owner_text().encode())
    os.fsync(fd)
    try:
        yield owner
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


_STALE_REASON = "left RUNNING by a run that ended without finishing; marked FAILED by the next run"


def fail_stale_executions(pipeline_root: str) -> list[str]:
    """Marks executions a killed run left RUNNING as FAILED, as TFX marks a
    failed one; returns 'Component #id' for each.

    Call only while holding `pipeline_lock`: then no other run on this root
    can be executing anything.
    """
    path = metadata_path(pipeline_root)
    if not os.path.exists(path):
        return []
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = path
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    store = mlmd.MetadataStore(cfg)
    running = store.get_executions(
        list_options=mlmd.ListOptions(filter_query="last_known_state = RUNNING")
    )
    for execution in running:
        execution.last_known_state = metadata_store_pb2.Execution.FAILED
        execution.custom_properties["vrl_failure"].string_value = _STALE_REASON
    if running:
        store.put_executions(running)
    return [f"{(e.type or str(e.type_id)).rsplit('.', 1)[-1]} #{e.id}" for e in running]


@contextlib.contextmanager
def exclusive_run(pipeline_root: str) -> Iterator[None]:
    """Creates the pipeline root and holds its lock for one run; first clears
    what a killed run left behind (its lock, its RUNNING executions)."""
    import logging

    log = logging.getLogger(__name__)
    os.makedirs(pipeline_root, exist_ok=True)
    with pipeline_lock(pipeline_root) as stale:
        if stale:
            log.warning(
                "took over the lock of an earlier run that ended without releasing it (%s)",
                _describe(stale),
            )
        failed = fail_stale_executions(pipeline_root)
        if failed:
            log.warning(
                "marked %d execution(s) left RUNNING by an earlier run as FAILED: %s",
                len(failed),
                ", ".join(failed),
            )
        yield
