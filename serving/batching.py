"""Server-side batching: concurrent requests to the same signature run as one call.

Requests are grouped by (version, signature, input dtypes and per-row shapes).
A batch runs when it holds `max_batch_size` rows, when its oldest request has
waited `timeout_s`, or at once when no batch is running (an idle server does not
make a lone request wait; under load, requests pile up while batches run). If a
batched call fails, its requests are rerun one by one so a single bad request
never fails its neighbours.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from serving.errors import ServingError
from serving.servable import LoadedVersion


@dataclasses.dataclass
class BatchingOptions:
    """Server-side batching settings."""

    max_batch_size: int = 32
    """Most rows one batched call takes."""
    timeout_s: float = 0.002
    """Longest a request waits for others to join its batch."""
    num_threads: int = 2
    """Threads running batched calls."""


@dataclasses.dataclass
class _Task:
    inputs: dict[str, np.ndarray]
    rows: int
    enqueued: float
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: dict[str, np.ndarray] | None = None
    error: ServingError | None = None


class Batcher:
    """Collects prepared inputs into batches and runs them on worker threads."""

    def __init__(self, options: BatchingOptions, on_run: Callable[[], None] = lambda: None) -> None:
        self.options = options
        self._on_run = on_run
        self._cond = threading.Condition()
        self._queues: OrderedDict[tuple, list[_Task]] = OrderedDict()
        self._servables: dict[tuple, tuple[LoadedVersion, str]] = {}
        self._stopped = False
        self._running = 0  # batches being executed now
        self.batches_run = 0  # batched calls made (for tests and metrics)
        self.requests_batched = 0
        self._threads = [
            threading.Thread(target=self._loop, name=f"batcher-{i}", daemon=True)
            for i in range(max(options.num_threads, 1))
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stops the worker threads (queued requests still complete first)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=10)

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
            self._queues.setdefault(key, []).append(task)
            self._servables[key] = (servable, signature_name)
            self._cond.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        assert task.result is not None
        return task.result

    def _take_batch(self) -> tuple[tuple[LoadedVersion, str], list[_Task]] | None:
        with self._cond:
            while True:
                if not self._queues:
                    if self._stopped:
                        return None
                    self._cond.wait()
                    continue
                key, tasks = next(iter(self._queues.items()))
                waited = time.monotonic() - tasks[0].enqueued
                full = sum(t.rows for t in tasks) >= self.options.max_batch_size
                idle = self._running == 0
                if full or idle or waited >= self.options.timeout_s or self._stopped:
                    break
                self._cond.wait(self.options.timeout_s - waited)
            batch, rows = [], 0
            while tasks and rows + tasks[0].rows <= self.options.max_batch_size:
                rows += tasks[0].rows
                batch.append(tasks.pop(0))
            self._running += 1
            if not tasks:
                del self._queues[key]
                servable = self._servables.pop(key)
            else:
                servable = self._servables[key]
            return servable, batch

    def _loop(self) -> None:
        while True:
            taken = self._take_batch()
            if taken is None:
                return
            (servable, signature_name), batch = taken
            with self._cond:
                self.batches_run += 1
                self.requests_batched += len(batch)
            self._on_run()
            try:
                self._run(servable, signature_name, batch)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify()

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
        finally:
            for t in batch:
                t.done.set()


def _unavailable():
    import grpc

    return grpc.StatusCode.UNAVAILABLE


def _invalid():
    import grpc

    return grpc.StatusCode.INVALID_ARGUMENT
