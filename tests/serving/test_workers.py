"""`vrl serve --workers 2`: two server processes on one gRPC port and one REST port."""

from __future__ import annotations

import argparse
import base64
import os
import re
import signal
import socket
import sys
import time
import types

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from models.cnn import features
from serving.client import RestClient
from serving.flags import server_kwargs
from serving.tensors import from_tensor_proto
from serving.workers import Workers, reserve_port
from vrl.serve import add_parsers

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreading and /proc are Linux's"
)
CONNECTIONS = 16  # fresh connections; all landing on one of two workers: p = 2**-15


@pytest.fixture(scope="module")
def workers(tmp_path_factory, exported, helpers, vrl_serve):
    """`vrl serve --workers 2` over a base with cnn version 1 (favours "cat")."""
    base = tmp_path_factory.mktemp("workers_base")
    helpers.push(exported["cnn_v1"], str(base / "cnn"), 1)
    argv = ["--model-base", str(base), "--grpc-port", "0", "--rest-port", "0"]
    server = vrl_serve([*argv, "--workers", "2", "--poll-seconds", "0.3"])
    yield types.SimpleNamespace(
        proc=server.proc,
        base=base,
        grpc=server.grpc_target,
        rest=server.rest_url,
        pids=[int(p) for p in re.search(r"pids \[([\d, ]+)\]", server.line).group(1).split(",")],
    )
    server.stop()


def _predict(target: str, image: bytes, label: str = "") -> tuple[int, str]:
    """One Predict on a new connection; returns (version, top label)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "cnn"
    if label:
        request.model_spec.version_label = label
    request.inputs[features.SERVING_INPUT_KEY].CopyFrom(
        tf.make_tensor_proto(np.array([image], dtype=object))
    )
    with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
        response = prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict(
            request, timeout=30
        )
    names = from_tensor_proto(response.outputs[features.OUTPUT_LABEL_NAMES])
    return response.model_spec.version.value, names[0].decode()


def _connection_owners(port: int, pids: list[int]) -> set[int]:
    """The worker pids holding an established TCP connection on local `port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):  # gRPC listens on v4-mapped IPv6
        with open(table, encoding="ascii") as f:
            for row in f.readlines()[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    inodes.add(f"socket:[{fields[9]}]")
    owners = set()
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        if any(os.readlink(os.path.join(fd_dir, fd)) in inodes for fd in os.listdir(fd_dir)):
            owners.add(pid)
    return owners


def _count(metrics: str, prefix: str) -> float:
    return sum(
        float(row.rsplit(" ", 1)[1]) for row in metrics.splitlines() if row.startswith(prefix)
    )


def test_both_workers_answer_and_the_metrics_page_sums_them(workers, helpers):
    port = int(workers.grpc.rsplit(":", 1)[1])
    channels = []
    for _ in range(CONNECTIONS):  # held open so their server ends can be found in /proc
        channel = grpc.insecure_channel(
            workers.grpc, options=[("grpc.use_local_subchannel_pool", 1)]
        )
        channel_ready = grpc.channel_ready_future(channel)
        channel_ready.result(timeout=30)
        channels.append(channel)
    try:
        assert _connection_owners(port, workers.pids) == set(workers.pids)
    finally:
        for channel in channels:
            channel.close()
    image = helpers.png_bytes(1)
    answers = {_predict(workers.grpc, image) for _ in range(CONNECTIONS)}
    assert answers == {(1, "cat")}
    rest_predicts = 4
    for _ in range(rest_predicts):
        client = RestClient(workers.rest)
        body = {"instances": [{"b64": base64.b64encode(image).decode()}]}
        assert client.request("POST", "/v1/models/cnn:predict", body)["predictions"]
        client.close()

    page = RestClient(workers.rest).request("GET", "/monitoring/prometheus/metrics")
    ok = ':tensorflow:serving:request_count{model_name="cnn",status="OK"}'
    assert _count(page, ok) == CONNECTIONS + rest_predicts
    grpc_count = ':tensorflow:serving:request_latency_count{model_name="cnn",API="Predict",'
    assert _count(page, grpc_count + 'entrypoint="GRPC"}') == CONNECTIONS
    # Each worker loaded the version once.
    assert _count(page, ":tensorflow:cc:saved_model:load_attempt_count{") == 2


def test_a_push_is_served_by_every_worker(workers, exported, helpers):
    helpers.push(exported["cnn_v2"], str(workers.base / "cnn"), 2)
    image = helpers.png_bytes(2)
    deadline = time.monotonic() + 30
    while True:
        answers = {_predict(workers.grpc, image) for _ in range(CONNECTIONS)}
        if answers == {(2, "dog")} or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert answers == {(2, "dog")}


def test_a_reload_sent_to_one_worker_is_applied_by_every_worker(workers, helpers):
    def reload(labels: dict[str, int]) -> None:
        request = model_management_pb2.ReloadConfigRequest()
        model = request.config.model_config_list.config.add(
            name="cnn", base_path=str(workers.base / "cnn"), model_platform="tensorflow"
        )
        model.model_version_policy.specific.versions.extend([1, 2])
        model.version_labels.update(labels)
        with grpc.insecure_channel(workers.grpc) as channel:
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            assert stub.HandleReloadConfigRequest(request, timeout=60).status.error_code == 0

    # Version 1 was unloaded by the push of 2: load it back, then label it. The label
    # is refused by any worker where version 1 is not loaded, and each reload answers
    # only after every worker applied it: no waiting for a poll here.
    reload({})
    reload({"stable": 1})
    image = helpers.png_bytes(3)
    answers = {_predict(workers.grpc, image, "stable") for _ in range(CONNECTIONS)}
    assert answers == {(1, "cat")}


def test_a_crashing_worker_stops_the_whole_server(workers):
    os.kill(workers.pids[1], signal.SIGKILL)
    assert workers.proc.wait(timeout=60) == 1
    for pid in workers.pids:
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)
    with pytest.raises(grpc.RpcError) as error:
        _predict(workers.grpc, b"")
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def _is_zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_worker_counts_below_two_are_refused_by_the_pool_and_below_one_by_the_flags():
    with pytest.raises(ValueError, match="--workers must be 2 or more"):
        Workers({"grpc_port": 0}, 1)
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers())
    args = parser.parse_args(["serve", "--model-base", "x", "--workers", "0"])
    with pytest.raises(ValueError, match="--workers must be 1 or more, got 0"):
        server_kwargs(args)


def test_a_port_another_server_listens_on_is_refused_not_shared():
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError, match="is in use"):
            reserve_port("127.0.0.1", other.getsockname()[1])
