"""Server-side batching: concurrent requests share calls, answers stay per request."""

from __future__ import annotations

import os
from concurrent import futures

import grpc
import numpy as np
import pytest

from serving.batching import BatchingOptions
from serving.client import GrpcClient
from serving.server import start_server


@pytest.fixture(scope="module")
def batching_server(tmp_path_factory, exported, helpers):
    base = str(tmp_path_factory.mktemp("batch_base"))
    helpers.push(exported["cnn_v1"], os.path.join(base, "cnn"), 1)
    helpers.push(exported["policy"], os.path.join(base, "policy"), 1)
    handle = start_server(
        base,
        grpc_port=0,
        rest_port=None,
        batching=BatchingOptions(max_batch_size=8, timeout_s=0.05, num_threads=1),
    )
    handle.wait_until_available("cnn")
    handle.wait_until_available("policy")
    yield handle
    handle.stop()


def test_concurrent_requests_are_merged_and_answered_individually(batching_server):
    batcher = batching_server.core.batcher
    before = batcher.batches_run, batcher.requests_batched
    observations = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)

    def act(i):
        with GrpcClient(f"127.0.0.1:{batching_server.grpc_port}") as client:
            return client.act("policy", observations[i : i + 1])

    with futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(act, range(16)))
    w = np.array([[1, -1], [2, -2], [0, 0], [0, 0]], np.float32)
    for i, out in enumerate(answers):
        np.testing.assert_allclose(out["q_values"], observations[i : i + 1] @ w, rtol=1e-5)
        assert out["action"].tolist() == [int(np.argmax(observations[i] @ w))]
    batches = batcher.batches_run - before[0]
    requests = batcher.requests_batched - before[1]
    assert requests == 16
    assert batches < 16  # at least some requests shared a call


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
