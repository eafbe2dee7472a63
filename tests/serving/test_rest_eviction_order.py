"""Which idle REST connection is evicted when a client reaches its cap: the first
accepted, whatever order the worker threads got to the connections in."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler

from serving.limits import ConnectionLimits
from serving.rest_connections import IDLE, PROCESSING, BoundedHTTPServer, _Watch


def _server(cap: int) -> BoundedHTTPServer:
    limits = ConnectionLimits(rest_max_connections=16, rest_max_connections_per_peer=cap)
    return BoundedHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler, limits)


def _accept(server: BoundedHTTPServer, peer: str) -> tuple[socket.socket, socket.socket]:
    """A connection as the accepting thread registers it: (server side, client side)."""
    ours, theirs = socket.socketpair()
    with server._lock:  # noqa: SLF001 - as process_request holds it, without the pool
        assert server._make_room(peer) is None  # noqa: SLF001
        server._open[ours] = _Watch(peer)  # noqa: SLF001
    return ours, theirs


def test_the_first_accepted_idle_connection_is_evicted_even_if_its_thread_started_last():
    server = _server(cap=3)
    try:
        conns = [_accept(server, "10.0.0.1") for _ in range(3)]
        # The worker threads reach their connections in reverse order.
        for ours, _ in reversed(conns):
            assert server.enter(ours, IDLE)
        with server._lock:  # noqa: SLF001
            assert server._make_room("10.0.0.1") is None  # noqa: SLF001 - evicts one
        first, _ = conns[0]
        assert server._open[first].expired  # noqa: SLF001
        assert not any(server._open[s].expired for s, _ in conns[1:])  # noqa: SLF001
        assert conns[0][1].recv(10) == b""  # the client sees the close
    finally:
        server.server_close()


def test_a_kept_alive_connection_is_idle_since_its_last_request_ended():
    server = _server(cap=2)
    try:
        (a, _), (b, _) = _accept(server, "10.0.0.2"), _accept(server, "10.0.0.2")
        for ours in (a, b):
            assert server.enter(ours, IDLE)
        # The first one served a request and went back to waiting: now the newer idle.
        assert server.enter(a, PROCESSING) and server.enter(a, IDLE)
        with server._lock:  # noqa: SLF001
            assert server._make_room("10.0.0.2") is None  # noqa: SLF001
        assert server._open[b].expired and not server._open[a].expired  # noqa: SLF001
    finally:
        server.server_close()
