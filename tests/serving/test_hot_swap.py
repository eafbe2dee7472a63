"""New versions pushed while clients are sending requests: no request fails, the
new version is served within a poll interval (plus its load time), the old one
is unloaded, and a version that cannot load leaves the served one in place."""

from __future__ import annotations

import os
import threading
import time

import pytest

from contracts.serving_base import EXTRA_DIR, PUSH_MARKER_FILE
from serving.client import GrpcClient, RestClient
from serving.server import start_server

POLL_SECONDS = 1.0
# Loading the tiny SavedModel takes well under a second; allow for a busy machine.
LOAD_ALLOWANCE_S = 4.0


@pytest.fixture
def swap_server(tmp_path, exported, helpers):
    base = str(tmp_path / "base")
    helpers.push(exported["cnn_v1"], os.path.join(base, "cnn"), 1)
    handle = start_server(base, grpc_port=0, rest_port=0, poll_seconds=POLL_SECONDS)
    handle.wait_until_available("cnn", timeout=60)
    yield handle, base
    handle.stop()


def _client_loop(call, stop: threading.Event, results: list, failures: list) -> None:
    while not stop.is_set():
        try:
            results.append((time.monotonic(), *call()))
        except Exception as e:  # noqa: BLE001 - every failure is collected and asserted on
            failures.append(repr(e))


def test_push_during_traffic_fails_no_request_and_serves_new_version(
    swap_server, exported, helpers
):
    handle, base = swap_server
    image = helpers.png_bytes()
    grpc_clients = [GrpcClient(f"127.0.0.1:{handle.grpc_port}") for _ in range(3)]
    rest_client = RestClient(f"127.0.0.1:{handle.rest_port}")

    def grpc_call(client):
        out = client.predict_images("cnn", [image])
        return "grpc", out["label_names"][0].decode()

    def rest_call():
        return "rest", rest_client.predict_images("cnn", [image])[0]["label_names"]

    stop, results, failures = threading.Event(), [], []
    calls = [lambda c=c: grpc_call(c) for c in grpc_clients] + [rest_call]
    threads = [
        threading.Thread(target=_client_loop, args=(call, stop, results, failures))
        for call in calls
    ]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        pushed_at = time.monotonic()
        helpers.push(exported["cnn_v2"], os.path.join(base, "cnn"), 2)
        deadline = pushed_at + POLL_SECONDS + LOAD_ALLOWANCE_S + 5
        while time.monotonic() < deadline and not any(r[2] == "dog" for r in results):
            time.sleep(0.05)
        time.sleep(0.5)  # keep traffic going across the unload of version 1
    finally:
        stop.set()
        for t in threads:
            t.join()
        for c in grpc_clients:
            c.close()
        rest_client.close()

    assert failures == []
    first_new = min((r[0] for r in results if r[2] == "dog"), default=None)
    assert first_new is not None, "version 2 was never served"
    assert first_new - pushed_at < POLL_SECONDS + LOAD_ALLOWANCE_S
    # After the switch every answer comes from version 2, on both protocols.
    after = [r for r in results if r[0] > first_new + 0.2]
    assert after and all(r[2] == "dog" for r in after)
    assert {r[1] for r in after} == {"grpc", "rest"}
    assert len(results) > 20
    # latest-1 policy: version 1 is unloaded once version 2 serves.
    states = {s.version: s.state for s in handle.core.registry.status("cnn")}
    assert states == {2: "AVAILABLE", 1: "END"}


def test_version_that_fails_to_load_keeps_previous_one_serving(swap_server, helpers):
    handle, base = swap_server
    broken = os.path.join(base, "cnn", ".staging-5-test")
    os.makedirs(broken)
    with open(os.path.join(broken, "saved_model.pb"), "wb") as f:
        f.write(b"definitely not a SavedModel")
    # A completed push (marker written) of a model that does not load; without the
    # marker the server would not even try it (see test_version_markers.py).
    os.makedirs(os.path.join(broken, EXTRA_DIR))
    with open(os.path.join(broken, PUSH_MARKER_FILE), "w") as f:
        f.write("{}")
    os.rename(broken, os.path.join(base, "cnn", "5"))
    deadline = time.monotonic() + POLL_SECONDS + LOAD_ALLOWANCE_S
    status = {}
    while time.monotonic() < deadline and status.get(5, (None,))[0] != "END":
        status = {s.version: (s.state, s.error) for s in handle.core.registry.status("cnn")}
        time.sleep(0.1)
    assert status[5][0] == "END" and status[5][1]
    with GrpcClient(f"127.0.0.1:{handle.grpc_port}") as client:
        out = client.predict_images("cnn", [helpers.png_bytes()])
    assert out["label_names"].tolist() == [b"cat"]
    rest = RestClient(f"127.0.0.1:{handle.rest_port}")
    try:
        versions = rest.status("cnn")["model_version_status"]
    finally:
        rest.close()
    assert versions[0]["version"] == "5" and versions[0]["status"]["error_code"] == "UNKNOWN"
    assert versions[1] == {
        "version": "1",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
