"""One model's request log files: written hidden, published by rename, capped in size.

Files are named `<prefix>.<start ms>.<pid>-<seq>.tfrecord`; a file is written as
`.<name>.tmp` and renamed into view once closed (by size, by age, or on stop), so
a reader never sees a torn file. The oldest published files are deleted to keep
a log folder under its size cap.
"""

from __future__ import annotations

import glob
import logging
import os
import time

import tensorflow as tf

from serving.model_config import ModelSpec
from serving.request_log_limits import RequestLogLimits

log = logging.getLogger(__name__)

SUFFIX = ".tfrecord"
_TMP = ".tmp"


def published_files(prefix: str) -> list[str]:
    """Published (complete) log files of `prefix`, oldest first."""
    return sorted(glob.glob(glob.escape(prefix) + ".*" + SUFFIX), key=lambda p: (start_ms(p), p))


def start_ms(path: str) -> int:
    """When the log file at `path` was started (epoch ms, from its name; 0 if not ours)."""
    parts = os.path.basename(path).split(".")
    return int(parts[-3]) if len(parts) >= 3 and parts[-3].isdigit() else 0


def check_writable(spec: ModelSpec) -> None:
    """Creates the log folder of `spec` and proves a file can be written there.

    Raises OSError naming the model and the folder when it cannot.
    """
    folder = os.path.dirname(os.path.abspath(spec.log_filename_prefix))
    probe = os.path.join(folder, f".vrl-log-probe-{os.getpid()}{_TMP}")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"probe")
        os.remove(probe)
    except OSError as e:
        raise OSError(
            f"model {spec.name!r}: request log folder {folder} is not writable "
            f"({e.strerror}); fix logging_config.log_collector_config.filename_prefix"
        ) from e


class LogFile:
    """One model's open TFRecord file, written hidden and published by rename."""

    def __init__(self, prefix: str, limits: RequestLogLimits) -> None:
        self.prefix = prefix
        self.limits = limits
        self._seq = 0
        self._writer: tf.io.TFRecordWriter | None = None
        self._path = ""
        self._opened = 0.0
        self._bytes = 0

    def write(self, records: list[bytes]) -> None:
        """Appends `records` and flushes once, so a full disk fails these, not later ones."""
        if self._writer is None:
            start_ms = int(time.time() * 1000)
            self._seq += 1
            name = f"{os.path.basename(self.prefix)}.{start_ms}.{os.getpid()}-{self._seq}{SUFFIX}"
            self._path = os.path.join(os.path.dirname(os.path.abspath(self.prefix)), name)
            self._writer = tf.io.TFRecordWriter(self._hidden(self._path))
            self._opened, self._bytes = time.monotonic(), 0
        try:
            for record in records:
                self._writer.write(record)
            self._writer.flush()
        except (OSError, tf.errors.OpError):
            self.discard()
            raise
        self._bytes += sum(len(r) + 16 for r in records)  # TFRecord framing: length, 2 CRCs
        if self._bytes >= self.limits.max_file_bytes:
            self.publish()

    @staticmethod
    def _hidden(path: str) -> str:
        return os.path.join(os.path.dirname(path), "." + os.path.basename(path) + _TMP)

    def discard(self) -> None:
        """Drops the open file after a failed write: the failed batch is counted as dropped,
        the records flushed into the file before it are lost with it (never a torn file)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except (OSError, tf.errors.OpError):
                pass  # the file goes anyway
            _remove(self._hidden(self._path))

    def publish_if_old(self) -> None:
        if (
            self._writer is not None
            and time.monotonic() - self._opened >= self.limits.max_file_age_s
        ):
            self.publish()

    def publish(self) -> None:
        """Closes the open file and renames it into view; then enforces the folder cap."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        hidden = self._hidden(self._path)
        try:
            writer.close()
            os.replace(hidden, self._path)
        except (OSError, tf.errors.OpError):
            _remove(hidden)
            raise
        self._cap()

    def _cap(self) -> None:
        files = published_files(self.prefix)
        sizes = [os.path.getsize(f) for f in files]
        total = sum(sizes)
        for path, size in zip(files, sizes, strict=True):
            if total <= self.limits.max_folder_bytes:
                break
            _remove(path)
            total -= size


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError as e:
        log.warning("request log: could not remove %s: %s", path, e.strerror)
