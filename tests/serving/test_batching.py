"""Server-side batching: concurrent requests share calls, answers stay per request."""

from __future__ import annotations

import os
import threading
import time
from concurrent import futures

import grpc
import numpy as np
import pytest

from serving import batching, tfs_config
from serving.batching import Batcher, BatchingOptions
from serving.client import GrpcClient
from serving.errors import ServingError
from serving.metrics import Metrics
from serving.options import ServerOptions
from serving.server import start_server


@pytest.fixture(scope="module")
def batching_server(tmp_path_factory, exported, helpers):
    base = str(tmp_path_factory.mktemp("batch_base"))
    helpers.push(exported["cnn_v1"], os.path.join(base, "cnn"), 1)
    helpers.push(exported["policy"], os.path.join(base, "policy"), 1)
    handle = start_server(
        ServerOptions(
            model_base=base,
            grpc_port=0,
            rest_port=None,
            batching=BatchingOptions(max_batch_size=8, timeout_s=0.05, num_threads=1),
        )
    )
    handle.wait_until_available("cnn")
    handle.wait_until_available("policy")
    yield handle
    handle.stop()


def test_concurrent_requests_are_merged_and_answered_individually(batching_server):
    batcher = batching_server.core.batcher
    observations = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)

    def act(i):
        with GrpcClient(f"127.0.0.1:{batching_server.grpc_port}") as client:
            return client.act("policy", observations[i : i + 1])

    # The batcher's one thread is kept busy by a call the test holds, so the 16
    # requests queue whatever the machine's load; then it is let go.
    blocker = GatedServable()
    with futures.ThreadPoolExecutor(17) as pool:
        held = pool.submit(batcher.execute, blocker, "s", _rows(1))
        assert blocker.started.acquire(timeout=60)
        before = batcher.batches_run, batcher.requests_batched
        sent = [pool.submit(act, i) for i in range(16)]
        _wait_until(lambda: batcher.queued() >= 16)
        blocker.gate.set()
        held.result(timeout=60)
        answers = [f.result(timeout=60) for f in sent]
    w = np.array([[1, -1], [2, -2], [0, 0], [0, 0]], np.float32)
    for i, out in enumerate(answers):
        np.testing.assert_allclose(out["q_values"], observations[i : i + 1] @ w, rtol=1e-5)
        assert out["action"].tolist() == [int(np.argmax(observations[i] @ w))]
    # Less the held call: 16 requests of one row in two calls of max_batch_size 8.
    assert batcher.requests_batched - before[1] - 1 == 16
    assert batcher.batches_run - before[0] - 1 == 2


def _wait_until(condition, timeout: float = 60.0) -> None:
    """Polls `condition` (a cheap check) until it holds; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_one_bad_request_in_a_batch_fails_alone(batching_server, helpers):
    images = [helpers.png_bytes(i) for i in range(5)] + [b"not an image"]

    def predict(image):
        with GrpcClient(f"127.0.0.1:{batching_server.grpc_port}") as client:
            try:
                return client.predict_images("cnn", [image])["label_names"].tolist()
            except grpc.RpcError as e:
                return e.code()

    with futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(predict, images))
    assert answers[:5] == [[b"cat"]] * 5
    assert answers[5] == grpc.StatusCode.INVALID_ARGUMENT


def test_requests_larger_than_max_batch_run_directly(batching_server):
    with GrpcClient(f"127.0.0.1:{batching_server.grpc_port}") as client:
        out = client.act("policy", np.ones((20, 4), np.float32))
    assert out["action"].shape == (20,)


# The batcher itself, on a stand-in servable whose calls wait for the test to let them go.


class GatedServable:
    """Records each call's rows; a call blocks until `gate` is set."""

    name, version = "gated", 1

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls: list[int] = []
        self.started = threading.Semaphore(0)

    def execute(self, signature_name, inputs):
        self.calls.append(len(inputs["x"]))
        self.started.release()
        self.gate.wait(60)
        return {"y": inputs["x"] * 2}


def _rows(n: int, start: float = 0.0) -> dict:
    return {"x": np.arange(start, start + n, dtype=np.float32).reshape(n, 1)}


def _wait_queued(batcher: Batcher, n: int) -> None:
    with batcher._cond:
        assert batcher._cond.wait_for(lambda: sum(map(len, batcher._queues.values())) >= n, 60)


def test_full_queue_is_unavailable_and_padding_rows_are_dropped():
    options = BatchingOptions(
        max_batch_size=4, timeout_s=60, num_threads=1, max_enqueued_batches=2,
        allowed_batch_sizes=(2, 4),
    )  # fmt: skip
    metrics = Metrics()
    batcher, servable = Batcher(options, metrics), GatedServable()
    with futures.ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher.execute, servable, "s", _rows(1))
        assert servable.started.acquire(timeout=60)  # the first call runs; the queue fills
        queued = [pool.submit(batcher.execute, servable, "s", _rows(1, 10 + i)) for i in range(7)]
        _wait_queued(batcher, 7)
        with pytest.raises(ServingError) as raised:  # 8 rows = two batches of 4: full
            batcher.execute(servable, "s", _rows(2))
        assert raised.value.code == grpc.StatusCode.UNAVAILABLE
        assert raised.value.message == batching.QUEUE_FULL
        servable.gate.set()
        assert first.result()["y"].tolist() == [[0.0]]
        answers = [f.result()["y"].tolist() for f in queued]
    assert answers == [[[2.0 * (10 + i)]] for i in range(7)]
    # 1 alone padded to 2, then 4, then the last 3 padded to 4.
    assert servable.calls == [2, 4, 4]
    page = metrics.render()
    assert (
        ':tensorflow:serving:batching_session:padding_size_count{execution_batch_size="4"} 2'
        in page
    )
    assert ":tensorflow:serving:batching_session:processed_batch_size_count{} 3" in page
    assert ":tensorflow:serving:batching_session:input_batch_size_count{} 8" in page
    assert 'queuing_latency_count{thread_pool_name="model_server_batch_threads"} 8' in page


def test_request_whose_deadline_passes_queued_is_resource_exhausted():
    batcher = Batcher(BatchingOptions(max_batch_size=4, timeout_s=60, num_threads=1))
    servable = GatedServable()
    with futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(batcher.execute, servable, "s", _rows(1))
        assert servable.started.acquire(timeout=60)
        with pytest.raises(ServingError) as raised:
            batcher.execute(servable, "s", _rows(1), deadline=time.monotonic())
        assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert raised.value.message == batching.QUEUE_TIMEOUT
        servable.gate.set()
        first.result()
    assert batcher.queued() == 0 and servable.calls == [1]


def test_batching_parameters_file_fields_are_honoured_or_refused(tmp_path):
    params = tmp_path / "batching.config"
    params.write_text(
        "max_batch_size { value: 8 }\nallowed_batch_sizes: 2\nallowed_batch_sizes: 8\n"
        'thread_pool_name { value: "pool" }\n'
    )
    options = tfs_config.batching_options_from_file(str(params))
    assert options.allowed_batch_sizes == (2, 8) and options.thread_pool_name == "pool"
    assert options.max_enqueued_batches == 10  # SharedBatchScheduler's default
    assert [options.padded_size(n) for n in (1, 2, 3, 8)] == [2, 2, 8, 8]
    for text, needle in (
        ("max_batch_size { value: 8 }\nallowed_batch_sizes: 4\n", "must match max_batch_size"),
        ("max_enqueued_batches { value: 0 }\n", "max_enqueued_batches must be >= 1"),
        ("pad_variable_length_inputs: true\n", "pad_variable_length_inputs not supported"),
        ("enable_large_batch_splitting { value: true }\n", "enable_large_batch_splitting"),
        ("max_execution_batch_size { value: 4 }\n", "max_execution_batch_size"),
    ):
        params.write_text(text)
        with pytest.raises(ValueError, match=needle):
            tfs_config.batching_options_from_file(str(params))
