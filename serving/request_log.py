"""Request logging the TF Serving way: each model's `logging_config` in the model config.

A sampled Predict (`sampling_config.sampling_rate`, uniform, as TF Serving's
RequestLogger samples) becomes one `tensorflow.serving.PredictionLog` (request,
response, and log_metadata: model name, version, signature, sampling config)
appended to TFRecord files named after `log_collector_config.filename_prefix`.

Logging stays off the request path: the request thread only draws the sample and
puts the record's parts on a bounded queue; one writer thread serializes and
writes. A full queue or a failed write (disk full) drops the record; every
sampled record is counted in `:tensorflow:serving:request_log_count` by model and
status code ("OK", "RESOURCE_EXHAUSTED" for a full queue, "INTERNAL" for a failed
write), as TF Serving counts them. Files are written hidden (`.<name>.tmp`) and
published by rename once closed (rotated by size and age, and on stop), so a
reader never sees a torn file; the oldest published files are deleted to keep
each log folder under a size cap.
"""

from __future__ import annotations

import glob
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from serving.metrics import Metrics
from serving.model_config import ModelSpec
from serving.request_log_limits import RequestLogLimits
from serving.tensors import fill_tensor_proto

log = logging.getLogger(__name__)

SUFFIX = ".tfrecord"
_TMP = ".tmp"
_STOP = object()
_WRITE_BATCH = 256
"""Most queued records written between two flushes."""


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


class _File:
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


class RequestLogger:
    """Samples, queues and writes the PredictionLogs of the models with a logging_config."""

    def __init__(
        self,
        specs: list[ModelSpec],
        metrics: Metrics,
        limits: RequestLogLimits | None = None,
    ) -> None:
        self.limits = limits or RequestLogLimits()
        self.metrics = metrics
        self._rates = {s.name: s.log_sampling_rate for s in specs if s.log_filename_prefix}
        self._files = {
            s.name: _File(s.log_filename_prefix, self.limits)
            for s in specs
            if s.log_filename_prefix
        }
        prefixes: dict[str, str] = {}
        for spec in specs:
            if spec.log_filename_prefix:
                check_writable(spec)
                other = prefixes.setdefault(os.path.abspath(spec.log_filename_prefix), spec.name)
                if other != spec.name:
                    raise ValueError(
                        f"models {other!r} and {spec.name!r} log to the same filename_prefix "
                        f"{spec.log_filename_prefix}; give each model its own"
                    )
        self._queue: queue.Queue = queue.Queue(self.limits.queue_records)
        self._thread: threading.Thread | None = None
        if self._files:
            self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
            self._thread.start()

    def sampled(self, model: str) -> bool:
        """Whether this request of `model` is to be logged (uniform sampling)."""
        rate = self._rates.get(model, 0.0)
        return rate > 0.0 and random.random() < rate

    def log_predict(
        self,
        model: str,
        version: int,
        signature: str,
        request: predict_pb2.PredictRequest | dict[str, np.ndarray],
        response: predict_pb2.PredictResponse | dict[str, np.ndarray],
    ) -> None:
        """Queues one sampled Predict (protos, or input/output arrays converted later);
        never blocks: a full queue drops the record and counts it."""
        try:
            self._queue.put_nowait((model, version, signature, request, response))
        except queue.Full:
            self.metrics.record_request_log(model, "RESOURCE_EXHAUSTED")

    def stop(self) -> None:
        """Writes what is queued, publishes the open files and stops the writer."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        while True:
            try:
                items = [self._queue.get(timeout=min(1.0, self.limits.max_file_age_s))]
            except queue.Empty:
                items = []
            while items and items[-1] is not _STOP and len(items) < _WRITE_BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = bool(items) and items[-1] is _STOP
            for model in {item[0] for item in items if item is not _STOP}:
                self._write(
                    model, [item for item in items if item is not _STOP and item[0] == model]
                )
            if stop:
                break
            self._each_file(lambda f: f.publish_if_old())
        self._each_file(lambda f: f.publish())

    def _each_file(self, action: Callable[[_File], None]) -> None:
        for name, file in self._files.items():
            try:
                action(file)
            except (OSError, tf.errors.OpError) as e:
                log.warning("request log of %s: could not publish a file: %s", name, e)

    def _write(self, model: str, items: list[tuple]) -> None:
        status = "OK"
        try:
            records = [prediction_log(*item, self._rates).SerializeToString() for item in items]
            self._files[model].write(records)
        except (OSError, tf.errors.OpError) as e:
            status = "INTERNAL"
            log.warning("request log of %s: %d records dropped: %s", model, len(items), e)
        self.metrics.record_request_log(model, status, len(items))


def prediction_log(
    model: str,
    version: int,
    signature: str,
    request: predict_pb2.PredictRequest | dict[str, np.ndarray],
    response: predict_pb2.PredictResponse | dict[str, np.ndarray],
    rates: dict[str, float],
) -> prediction_log_pb2.PredictionLog:
    """The PredictionLog of one Predict; array dicts are turned into the request/response."""
    out = prediction_log_pb2.PredictionLog()
    meta = out.log_metadata
    meta.model_spec.name = model
    meta.model_spec.version.value = version
    meta.model_spec.signature_name = signature
    meta.sampling_config.sampling_rate = rates.get(model, 0.0)
    logged = out.predict_log
    _fill(logged.request, "inputs", request, meta.model_spec)
    _fill(logged.response, "outputs", response, meta.model_spec)
    return out


def _fill(target, field: str, given, model_spec) -> None:
    """Copies a request/response proto, or builds one from arrays (tensors in `field`)."""
    if not isinstance(given, dict):
        target.CopyFrom(given)
        return
    target.model_spec.CopyFrom(model_spec)
    tensors = getattr(target, field)
    for name, value in given.items():
        fill_tensor_proto(tensors[name], value)
