"""New versions pushed while clients are sending requests: no request fails, the
new version is served, the old one is unloaded (every request started after that
gets the new version), and a version that cannot load leaves the served one in
place. Every wait is on a condition (an answer, a version state), never a margin."""

from __future__ import annotations

import os
import threading
import time

import pytest

from contracts.serving_base import EXTRA_DIR, PUSH_MARKER_FILE
from serving.client import GrpcClient, RestClient
from serving.options import ServerOptions
from serving.server import start_server

POLL_SECONDS = 1.0
WAIT_S = 120.0
"""Upper bound of every wait below: a failure bound on a loaded machine, not a margin."""


@pytest.fixture
def swap_server(tmp_path, exported, helpers):
    base = str(tmp_path / "base")
    helpers.push(exported["cnn_v1"], os.path.join(base, "cnn"), 1)
    handle = start_server(
        ServerOptions(model_base=base, grpc_port=0, rest_port=0, poll_seconds=POLL_SECONDS)
    )
    handle.wait_until_available("cnn", timeout=60)
    yield handle, base
    handle.stop()


def _wait_for(predicate, what: str) -> None:
    """Polls `predicate` until it holds; fails naming `what` after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


class Traffic:
    """Client threads calling in a loop; each answer is (started, protocol, label)."""

    def __init__(self, calls) -> None:
        self.cond = threading.Condition()
        self.results: list[tuple[float, str, str]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(c,)) for c in calls]

    def _loop(self, call) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                answer = (started, *call())
            except Exception as e:  # noqa: BLE001 - every failure is collected and asserted on
                answer = None
                self.failures.append(repr(e))
            with self.cond:
                if answer is not None:
                    self.results.append(answer)
                self.cond.notify_all()

    def wait_until(self, predicate, what: str) -> None:
        """Blocks until `predicate(results)` holds (re-checked after every answer)."""
        with self.cond:
            ok = self.cond.wait_for(lambda: self.failures or predicate(self.results), WAIT_S)
        assert ok and not self.failures, f"waiting for {what}: {self.failures[:3]}"

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def _answers(results, since: float, protocol: str, label: str | None = None) -> int:
    return sum(1 for r in results if r[0] > since and r[1] == protocol and label in (None, r[2]))


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

    calls = [lambda c=c: grpc_call(c) for c in grpc_clients] + [rest_call]
    try:
        with Traffic(calls) as traffic:
            traffic.wait_until(
                lambda r: _answers(r, 0, "grpc") >= 3 and _answers(r, 0, "rest") >= 1,
                "traffic on both protocols before the push",
            )
            helpers.push(exported["cnn_v2"], os.path.join(base, "cnn"), 2)

            def states():
                return {s.version: s.state for s in handle.core.registry.status("cnn")}

            # latest-1 policy: version 1 is unloaded once version 2 serves.
            _wait_for(lambda: states() == {2: "AVAILABLE", 1: "END"}, "version 1 to unload")
            unloaded = time.monotonic()
            # Keep traffic going until both protocols answered again after the unload.
            traffic.wait_until(
                lambda r: _answers(r, unloaded, "grpc") >= 3 and _answers(r, unloaded, "rest") >= 1,
                "answers on both protocols after the unload",
            )
    finally:
        for c in grpc_clients:
            c.close()
        rest_client.close()

    assert traffic.failures == []
    assert any(r[2] == "cat" for r in traffic.results)  # version 1 served before the push
    # Every request started after version 1 was unloaded got version 2's answer.
    after = [r for r in traffic.results if r[0] > unloaded]
    assert after and all(r[2] == "dog" for r in after)
    assert {r[1] for r in after} == {"grpc", "rest"}


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

    def status():
        return {s.version: (s.state, s.error) for s in handle.core.registry.status("cnn")}

    _wait_for(lambda: status().get(5, (None,))[0] == "END", "version 5's failed load")
    assert status()[5][1]
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
