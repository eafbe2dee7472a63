"""Server-side batching: concurrent requests to the same signature run as one call.

Requests are grouped by (version, signature, input dtypes and per-row shapes).
A batch runs when it holds `max_batch_size` rows, when its oldest request has
waited `timeout_s`, or at once when no batch is running (an idle server does not
make a lone request wait; under load, requests pile up while batches run). At
most `num_threads` batches run at once. If a batched call fails, its requests are
rerun one by one so a single bad request never fails its neighbours.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from serving.errors import ServingError

if TYPE_CHECKING:  # keeps TensorFlow out of flag parsing
    from serving.servable import LoadedVersion

log = logging.getLogger(__name__)


@dataclasses.dataclass
class BatchingOptions:
    """Server-side batching settings."""

    max_batch_size: int = 32
    """Most rows one batched call takes."""
    timeout_s: float = 0.002
    """Longest a request waits for others to join its batch."""
    num_threads: int = 2
    """Most batched calls running at once (TF Serving's num_batch_threads)."""


@dataclasses.dataclass
class _Task:
    inputs: dict[str, np.ndarray]
    rows: int
    enqueued: float
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: dict[str, np.ndarray] | None = None
    error: ServingError | None = None


class Batcher:
    """Collects prepared inputs into batches; the requests' own threads run the batches.

    There is no batching thread to hand requests to and answers back from: a waiting
    request claims the next batch of its queue when it may run (a thread slot is free
    and the batch is full, the oldest request waited `timeout_s`, or nothing else runs)
    and executes it for every request in it, its own or not. Requests arriving while
    a batch runs queue up and form the next one, so batches grow with load.
    """

    def __init__(self, options: BatchingOptions, on_run: Callable[[], None] = lambda: None) -> None:
        self.options = options
        self._on_run = on_run
        self._cond = threading.Condition()
        self._queues: dict[tuple, list[_Task]] = {}
        self._stopped = False
        self._running = 0  # batches being executed now
        self.batches_run = 0  # batched calls made (for tests and metrics)
        self.requests_batched = 0

    def stop(self) -> None:
        """Refuses new requests; queued ones still complete."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def execute(
        self, servable: LoadedVersion, signature_name: str, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Runs prepared inputs, batched with other requests when possible."""
        rows = {v.shape[0] if v.ndim else -1 for v in inputs.values()}
        if len(rows) != 1 or -1 in rows or rows == {0} or max(rows) >= self.options.max_batch_size:
            return servable.execute(signature_name, inputs)
        key = (
            id(servable),
            signature_name,
            tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items())),
        )
        task = _Task(inputs, rows.pop(), time.monotonic())
        with self._cond:
            if self._stopped:
                raise ServingError(_unavailable(), "server is shutting down")
            queue = self._queues.setdefault(key, [])
            queue.append(task)
            while not task.done.is_set():
                batch, wait = self._claim(key)
                if batch is None:
                    self._cond.wait(wait)
                    continue
                self._cond.release()
                try:
                    self._run(servable, signature_name, batch)
                    self._on_run()
                finally:
                    self._cond.acquire()
                    self._running -= 1
                    self.batches_run += 1
                    self.requests_batched += len(batch)
                    self._cond.notify_all()
        if task.error is not None:
            raise task.error
        assert task.result is not None
        return task.result

    def _claim(self, key: tuple) -> tuple[list[_Task] | None, float | None]:
        """Takes the next batch of `key` if it may run now; else (None, seconds to wait)."""
        tasks = self._queues.get(key)
        if not tasks:
            return None, None
        if self._running >= max(self.options.num_threads, 1):
            return None, None  # woken when a batch finishes
        waited = time.monotonic() - tasks[0].enqueued
        full = sum(t.rows for t in tasks) >= self.options.max_batch_size
        if not (full or self._running == 0 or waited >= self.options.timeout_s or self._stopped):
            return None, self.options.timeout_s - waited
        batch, rows = [], 0
        while tasks and rows + tasks[0].rows <= self.options.max_batch_size:
            rows += tasks[0].rows
            batch.append(tasks.pop(0))
        if not tasks:
            del self._queues[key]
        self._running += 1
        return batch, None

    @staticmethod
    def _run(servable: LoadedVersion, signature_name: str, batch: list[_Task]) -> None:
        total = sum(t.rows for t in batch)
        try:
            if len(batch) == 1:
                batch[0].result = servable.execute(signature_name, batch[0].inputs)
                return
            merged = {k: np.concatenate([t.inputs[k] for t in batch]) for k in batch[0].inputs}
            outputs = servable.execute(signature_name, merged)
            if any(v.ndim == 0 or v.shape[0] != total for v in outputs.values()):
                raise ServingError(_invalid(), "outputs are not batched along dimension 0")
            start = 0
            for t in batch:
                t.result = {k: v[start : start + t.rows] for k, v in outputs.items()}
                start += t.rows
        except ServingError as e:
            if len(batch) == 1:
                batch[0].error = e
            else:
                for t in batch:
                    try:
                        t.result = servable.execute(signature_name, t.inputs)
                    except ServingError as single:
                        t.error = single
        except Exception:  # noqa: BLE001 - every request in the batch must get an answer
            log.exception("batched call on %s version %d failed", servable.name, servable.version)
            for t in batch:
                t.error = ServingError(_internal(), "internal error while running a batch")
        finally:
            for t in batch:
                t.done.set()


def _unavailable():
    import grpc

    return grpc.StatusCode.UNAVAILABLE


def _internal():
    import grpc

    return grpc.StatusCode.INTERNAL


def _invalid():
    import grpc

    return grpc.StatusCode.INVALID_ARGUMENT
