"""Connection hygiene, bind errors and retrying a version that failed to load."""

from __future__ import annotations

import os
import shutil
import socket
import time

import pytest

from serving.options import ServerOptions
from serving.server import start_server


def _raw_http(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Sends raw bytes, returns everything the server answers before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def test_rejected_post_body_is_never_parsed_as_a_second_request(server):
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (
        b"POST /v1/models/cnn/versions/abc:predict HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Length: {len(smuggled)}\r\n\r\n".encode()
        + smuggled
    )
    answer = _raw_http(server.rest_port, request)
    assert answer.count(b"HTTP/1.") == 1 and b" 400 " in answer.split(b"\r\n", 1)[0]


def test_negative_content_length_is_rejected_at_once(server):
    request = b"POST /v1/models/cnn:predict HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
    start = time.monotonic()
    answer = _raw_http(server.rest_port, request, timeout=10.0)
    assert time.monotonic() - start < 5.0
    assert b" 400 " in answer.split(b"\r\n", 1)[0] and b"Content-Length must be >= 0" in answer


def test_busy_ports_give_a_clear_error_naming_the_port(server, model_base):
    with pytest.raises(OSError, match=rf"gRPC to 127.0.0.1:{server.grpc_port}.*--grpc-port"):
        start_server(
            ServerOptions(model_base=model_base, grpc_port=server.grpc_port, rest_port=None)
        )
    with pytest.raises(OSError, match=rf"REST to 127.0.0.1:{server.rest_port}.*--rest-port"):
        start_server(
            ServerOptions(model_base=model_base, grpc_port=None, rest_port=server.rest_port)
        )


def test_version_that_failed_to_load_is_retried_once_its_files_change(tmp_path, exported):
    model_dir = tmp_path / "base" / "cnn"
    half = model_dir / "3"
    half.mkdir(parents=True)
    # A non-atomic copy caught half-way: saved_model.pb present, variables missing.
    shutil.copy(os.path.join(exported["cnn_v1"], "saved_model.pb"), half / "saved_model.pb")
    handle = start_server(
        ServerOptions(
            model_base=str(tmp_path / "base"), grpc_port=None, rest_port=0, poll_seconds=0.3
        )
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = {s.version: s.state for s in handle.core.registry.status("cnn")}
            if states.get(3) == "END":
                break
            time.sleep(0.1)
        assert states.get(3) == "END"
        shutil.rmtree(half)
        shutil.copytree(exported["cnn_v1"], half)  # the copy completes
        assert handle.wait_until_available("cnn", timeout=30) == 3
    finally:
        handle.stop()


# Issue 21 item 3: no client address can hold more than its share of REST connections.


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    """Polls `condition` until it holds (a generous deadline only guards against a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _connect(port: int, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))


def _get_health(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return sock.recv(200)


def test_a_client_at_its_connection_cap_gives_up_its_oldest_idle_connection(server):
    rest = server._rest_server
    cap = rest.limits.rest_max_connections_per_peer
    held = [_connect(server.rest_port, "127.0.0.3") for _ in range(cap)]
    try:
        _wait_for(lambda: rest.connection_phases("127.0.0.3").get("idle") == cap, "idle sockets")
        newest = _connect(server.rest_port, "127.0.0.3")
        held.append(newest)
        assert held[0].recv(100) == b""  # the oldest was closed to make room
        assert _get_health(newest).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()


def test_a_client_whose_connections_are_all_busy_gets_503_and_others_are_served(server):
    rest = server._rest_server
    cap = rest.limits.rest_max_connections_per_peer
    partial = b"POST /v1/models/policy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
    busy = [_connect(server.rest_port, "127.0.0.4") for _ in range(cap)]
    try:
        for sock in busy:
            sock.sendall(partial)  # each waits for the rest of its body
        _wait_for(lambda: rest.connection_phases("127.0.0.4").get("body") == cap, "busy sockets")
        with _connect(server.rest_port, "127.0.0.4") as extra:
            answer = extra.recv(300)  # answered at once, before it sends anything
        assert answer.startswith(b"HTTP/1.1 503") and b"--rest-max-connections-per-peer" in answer
        with _connect(server.rest_port, "127.0.0.5") as other:
            assert _get_health(other).startswith(b"HTTP/1.1 200")
    finally:
        for sock in busy:
            sock.close()
