"""Request logging the TF Serving way: each model's `logging_config` in the model config.

A sampled request (`sampling_config.sampling_rate`, uniform, as TF Serving's
RequestLogger samples) of Predict, Classify, Regress or MultiInference becomes one
`tensorflow.serving.PredictionLog` (`predict_log`, `classify_log`, `regress_log`
or `multi_inference_log`: request and response, with log_metadata: model name,
the version that answered, signature, sampling config) appended to TFRecord files
named after `log_collector_config.filename_prefix` (serving/request_log_file.py).

Logging stays off the request path: the request thread only draws the sample and
puts references to the record's parts on a bounded queue (no copy); one writer
thread serializes them (serving/request_log_wire.py) and writes. A full queue or
a failed write (disk full) drops the record; every sampled record is counted in
`:tensorflow:serving:request_log_count` by model and status code ("OK",
"RESOURCE_EXHAUSTED" for a full queue, "INTERNAL" for a failed write), as TF
Serving counts them.

A model config reload (HandleReloadConfigRequest, or the config file poll) applies
the new `logging_config`s without a restart, as TF Serving's ServerCore updates
its request logger: a request is logged as the configuration said when it was
sampled; a folder no longer logged to gets its open file published.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from serving.metrics import Metrics
from serving.model_config import ModelSpec
from serving.request_log_file import LogFile, check_writable
from serving.request_log_limits import RequestLogLimits
from serving.request_log_wire import log_with_metadata, prediction_log_bytes
from serving.tensors import fill_tensor_proto

log = logging.getLogger(__name__)

LOG_KINDS = ("predict_log", "classify_log", "regress_log", "multi_inference_log")
"""The PredictionLog fields this server writes, one per API."""
_STOP = object()
_WRITE_BATCH = 256
"""Most queued records written between two flushes."""
_LINGER_S = 0.05
"""How long the writer lets records gather after the first one arrives: one wake-up and
one flush per batch instead of per request, so the writer rarely takes the interpreter
lock from the request threads (bench/request_log_overhead.py measures the difference)."""

Parts = tuple[Any, Any] | Callable[[], tuple[Any, Any]]
"""A logged (request, response): protos, Predict's input/output arrays, or a callable
the writer thread calls to build the protos (keeping that work off the request path)."""


@dataclasses.dataclass(frozen=True)
class LogTarget:
    """Where one model's sampled requests go, as its logging_config says."""

    prefix: str
    """log_collector_config.filename_prefix."""
    rate: float
    """sampling_config.sampling_rate."""


def _targets(specs: list[ModelSpec]) -> dict[str, LogTarget]:
    """The log target of each model with a logging_config; raises OSError naming a
    folder that cannot be written, ValueError when two models share a prefix."""
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
    return {
        s.name: LogTarget(s.log_filename_prefix, s.log_sampling_rate)
        for s in specs
        if s.log_filename_prefix
    }


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
        self._targets = _targets(specs)
        """Replaced whole on reload (request threads read it without a lock)."""
        self._files: dict[str, LogFile] = {}
        """Open files by prefix; the writer thread's alone."""
        self._queue: queue.Queue = queue.Queue(self.limits.queue_records)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        """Set by stop(): a reload racing the shutdown starts no new writer."""
        if self._targets:
            self._start_writer()

    def sample(self, model: str) -> LogTarget | None:
        """Where this request of `model` is to be logged, or None (uniform sampling)."""
        target = self._targets.get(model)
        if target is None or target.rate <= 0.0 or random.random() >= target.rate:
            return None
        return target

    def log(
        self, target: LogTarget, kind: str, model: str, version: int, signature: str, parts: Parts
    ) -> None:
        """Queues one sampled request of API `kind` (a LOG_KINDS field); never blocks: a
        full queue drops the record and counts it."""
        try:
            self._queue.put_nowait((target, kind, model, version, signature, parts))
        except queue.Full:
            self.metrics.record_request_log(model, "RESOURCE_EXHAUSTED")

    def check(self, specs: list[ModelSpec]) -> None:
        """Raises OSError or ValueError, naming the model, if `specs`' logging_configs
        cannot be applied; changes nothing."""
        _targets(specs)

    def reconfigure(self, specs: list[ModelSpec]) -> None:
        """Applies the logging_configs of a reloaded model config (see the module doc)."""
        targets = _targets(specs)
        with self._lock:
            self._targets = targets
            if self._thread is not None:
                # In order behind what is queued: files of dropped prefixes get published.
                self._queue.put(frozenset(t.prefix for t in targets.values()))
            elif targets and not self._stopped:
                self._start_writer()

    def stop(self) -> None:
        """Writes what is queued, publishes the open files and stops the writer."""
        with self._lock:
            self._stopped = True
            if self._thread is None:
                return
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _start_writer(self) -> None:
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                items = [self._queue.get(timeout=min(1.0, self.limits.max_file_age_s))]
                if isinstance(items[0], tuple) and self._queue.qsize() < _WRITE_BATCH:
                    time.sleep(_LINGER_S)
            except queue.Empty:
                items = []
            while items and isinstance(items[-1], tuple) and len(items) < _WRITE_BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            control = items.pop() if items and not isinstance(items[-1], tuple) else None
            for prefix in {item[0].prefix for item in items}:
                self._write(prefix, [item for item in items if item[0].prefix == prefix])
            if control is _STOP:
                break
            if control is not None:
                self._retire(control)
            self._each_file(lambda f: f.publish_if_old())
        self._each_file(lambda f: f.publish())

    def _retire(self, live: frozenset[str]) -> None:
        """Publishes and forgets the files of prefixes no longer configured."""
        for prefix in [p for p in self._files if p not in live]:
            try:
                self._files.pop(prefix).publish()
            except (OSError, tf.errors.OpError) as e:
                log.warning("request log %s: could not publish a file: %s", prefix, e)

    def _each_file(self, action: Callable[[LogFile], None]) -> None:
        for prefix, file in self._files.items():
            try:
                action(file)
            except (OSError, tf.errors.OpError) as e:
                log.warning("request log %s: could not publish a file: %s", prefix, e)

    def _write(self, prefix: str, items: list[tuple]) -> None:
        counts: dict[str, int] = {}
        for _, _, model, *_ in items:
            counts[model] = counts.get(model, 0) + 1
        status = "OK"
        try:
            records = [_record(*item) for item in items]
            file = self._files.get(prefix)
            if file is None:
                file = self._files[prefix] = LogFile(prefix, self.limits)
            file.write(records)
        except (OSError, tf.errors.OpError) as e:
            status = "INTERNAL"
            log.warning("request log %s: %d records dropped: %s", prefix, len(items), e)
        for model, count in counts.items():
            self.metrics.record_request_log(model, status, count)


def _record(
    target: LogTarget, kind: str, model: str, version: int, signature: str, parts: Parts
) -> bytes:
    """The serialized PredictionLog of one queued record."""
    request, response = parts() if callable(parts) else parts
    if isinstance(request, dict):  # Predict's arrays (REST): the protos are built here
        request, response = predict_protos(model, version, signature, request, response)
    return prediction_log_bytes(model, version, signature, request, response, target.rate, kind)


def predict_protos(
    model: str, version: int, signature: str, inputs: dict, outputs: dict
) -> tuple[predict_pb2.PredictRequest, predict_pb2.PredictResponse]:
    """The PredictRequest and PredictResponse of a REST Predict, from its input and
    output arrays, with the model spec of the version that answered."""
    spec = log_with_metadata(model, version, signature, 0.0).log_metadata.model_spec
    request, response = predict_pb2.PredictRequest(), predict_pb2.PredictResponse()
    for message, tensors, arrays in (
        (request, request.inputs, inputs),
        (response, response.outputs, outputs),
    ):
        message.model_spec.CopyFrom(spec)
        for name, value in arrays.items():
            fill_tensor_proto(tensors[name], value)
    return request, response


def prediction_log(
    model: str,
    version: int,
    signature: str,
    request: Any,
    response: Any,
    sampling_rate: float,
    kind: str = "predict_log",
) -> prediction_log_pb2.PredictionLog:
    """The PredictionLog of one request of API `kind` (a LOG_KINDS field), built with
    the proto API from its request and response protos (or Predict's input/output
    arrays): what the writer's joined bytes (`prediction_log_bytes`) must equal."""
    if isinstance(request, dict):
        request, response = predict_protos(model, version, signature, request, response)
    out = log_with_metadata(model, version, signature, sampling_rate)
    logged = getattr(out, kind)
    logged.request.CopyFrom(request)
    logged.response.CopyFrom(response)
    return out
