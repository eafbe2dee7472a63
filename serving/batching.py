"""Server-side batching: concurrent requests to the same signature run as one call.

Requests are grouped by (version, signature, input dtypes and per-row shapes).
A batch runs when it holds `max_batch_size` rows, when its oldest request has
waited `timeout_s`, or at once when no batch is running (an idle server does not
make a lone request wait; under load, requests pile up while batches run). At
most `num_threads` batches run at once. If a batched call fails, its requests are
rerun one by one so a single bad request never fails its neighbours.

TF Serving's BatchingParameters are honoured: `max_enqueued_batches` bounds each
queue (a request that would not fit gets UNAVAILABLE, as the shared batch
scheduler answers), and `allowed_batch_sizes` pads a batch up to the next allowed
size with copies of the last request's first row (batching_session.cc), the
padding rows' outputs being dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from typing import TYPE_CHECKING

import grpc
import numpy as np

from serving.errors import ServingError

if TYPE_CHECKING:  # keeps TensorFlow out of flag parsing
    from serving.metrics import Metrics
    from serving.servable import LoadedVersion

log = logging.getLogger(__name__)

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"
"""TF Serving's (shared_batch_scheduler.h) message when max_enqueued_batches is reached."""
QUEUE_TIMEOUT = "Run() timeout exceeded while waiting in batching queue"
"""TF Serving's (batching_session.cc) message for a request whose deadline passed queued."""


@dataclasses.dataclass
class BatchingOptions:
    """Server-side batching settings (TF Serving's BatchingParameters)."""

    max_batch_size: int = 32
    """Most rows one batched call takes."""
    timeout_s: float = 0.002
    """Longest a request waits for others to join its batch."""
    num_threads: int = 2
    """Most batched calls running at once (TF Serving's num_batch_threads)."""
    max_enqueued_batches: int | None = None
    """Most batches waiting in one queue (None: unbounded)."""
    allowed_batch_sizes: tuple[int, ...] = ()
    """Batch sizes a call may have; a batch is padded up to the next one (empty: any)."""
    thread_pool_name: str = "model_server_batch_threads"
    """Label of the queuing-latency metric (TF Serving's thread_pool_name)."""

    def __post_init__(self) -> None:
        sizes = list(self.allowed_batch_sizes)
        if sizes and (sizes != sorted(set(sizes)) or sizes[0] < 1):
            raise ValueError(f"allowed_batch_sizes must increase from 1 or more, got {sizes}")
        if sizes and sizes[-1] != self.max_batch_size:
            raise ValueError(
                "Last entry in allowed_batch_sizes must match max_batch_size; last entry was "
                f"{sizes[-1]}; expected {self.max_batch_size}"
            )
        if self.max_enqueued_batches is not None and self.max_enqueued_batches < 1:
            raise ValueError(f"max_enqueued_batches must be >= 1, got {self.max_enqueued_batches}")

    def padded_size(self, rows: int) -> int:
        """The batch size a call of `rows` rows runs at (the next allowed size)."""
        return next((s for s in self.allowed_batch_sizes if s >= rows), rows)


@dataclasses.dataclass(eq=False)  # compared by identity in the queues
class _Task:
    inputs: dict[str, np.ndarray]
    rows: int
    enqueued: float
    deadline: float | None
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

    def __init__(self, options: BatchingOptions, metrics: Metrics | None = None) -> None:
        self.options = options
        self._metrics = metrics
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

    def queued(self) -> int:
        """Requests waiting in all queues now."""
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def execute(
        self,
        servable: LoadedVersion,
        signature_name: str,
        inputs: dict[str, np.ndarray],
        deadline: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Runs prepared inputs, batched with other requests when possible.

        `deadline` (time.monotonic()) bounds the time spent queued; a request still
        queued then fails with RESOURCE_EXHAUSTED, as TF Serving's batching session does.
        """
        rows = {v.shape[0] if v.ndim else -1 for v in inputs.values()}
        if len(rows) != 1 or -1 in rows or rows == {0} or max(rows) >= self.options.max_batch_size:
            return servable.execute(signature_name, inputs)
        key = (
            id(servable),
            signature_name,
            tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items())),
        )
        task = _Task(inputs, rows.pop(), time.monotonic(), deadline)
        with self._cond:
            self._enqueue(key, task)
            while not task.done.is_set():
                batch, wait = self._claim(key)
                if batch is None:
                    if self._expired(key, task):
                        break
                    queued = task in self._queues.get(key, ())
                    self._cond.wait(_earliest(wait, task.deadline if queued else None))
                    continue
                self._cond.release()
                try:
                    self._run(servable, signature_name, batch)
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

    def _enqueue(self, key: tuple, task: _Task) -> None:
        """Adds `task` to its queue, or raises UNAVAILABLE (stopped, or the queue is full)."""
        if self._stopped:
            raise ServingError(grpc.StatusCode.UNAVAILABLE, "server is shutting down")
        queue = self._queues.setdefault(key, [])
        limit = self.options.max_enqueued_batches
        queued_rows = sum(t.rows for t in queue)
        if (
            limit is not None
            and math.ceil((queued_rows + task.rows) / self.options.max_batch_size) > limit
        ):
            if not queue:
                del self._queues[key]
            raise ServingError(grpc.StatusCode.UNAVAILABLE, QUEUE_FULL)
        queue.append(task)

    def _expired(self, key: tuple, task: _Task) -> bool:
        """Takes a still-queued task whose deadline passed out of its queue (with its error)."""
        if task.deadline is None or time.monotonic() < task.deadline:
            return False
        queue = self._queues.get(key, [])
        if task not in queue:
            return False  # claimed by a running batch; it will be answered
        queue.remove(task)
        if not queue:
            del self._queues[key]
        task.error = ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, QUEUE_TIMEOUT)
        return True

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

    def _run(self, servable: LoadedVersion, signature_name: str, batch: list[_Task]) -> None:
        total = sum(t.rows for t in batch)
        size = self.options.padded_size(total)
        if self._metrics is not None:
            self._metrics.record_batch(
                self.options.thread_pool_name,
                [time.monotonic() - t.enqueued for t in batch],
                [t.rows for t in batch],
                size,
            )
        try:
            if len(batch) == 1 and size == total:
                batch[0].result = servable.execute(signature_name, batch[0].inputs)
                return
            merged = {
                k: np.concatenate(
                    [t.inputs[k] for t in batch] + [batch[-1].inputs[k][:1]] * (size - total)
                )
                for k in batch[0].inputs
            }
            outputs = servable.execute(signature_name, merged)
            if any(v.ndim == 0 or v.shape[0] != size for v in outputs.values()):
                raise ServingError(
                    grpc.StatusCode.INVALID_ARGUMENT, "outputs are not batched along dimension 0"
                )
            start = 0
            for t in batch:
                t.result = {k: v[start : start + t.rows] for k, v in outputs.items()}
                start += t.rows
        except ServingError as e:
            if len(batch) == 1 and size == total:
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
                t.error = ServingError(
                    grpc.StatusCode.INTERNAL, "internal error while running a batch"
                )
        finally:
            for t in batch:
                t.done.set()


def _earliest(wait: float | None, deadline: float | None) -> float | None:
    """Seconds to wait on the condition: the batch timeout or the task's deadline."""
    if deadline is None:
        return wait
    left = max(deadline - time.monotonic(), 0.0)
    return left if wait is None else min(wait, left)
