"""Connection hygiene for the REST front end: a bounded worker pool, connection caps
(in all and per client address), eviction of idle connections, and idle / header /
body deadlines.

`http.server.ThreadingHTTPServer` starts a thread per connection and waits on
a silent socket forever, so held connections pile up threads without bound.
Here each connection runs on a pool of `rest_max_connections` threads. When a
new connection finds the pool full, or its client address at
`rest_max_connections_per_peer`, the oldest connection that is only waiting
for a request (idle: connected, or kept alive, with no byte of a request yet)
is closed to make room, the busiest address's first, so one client holding
thousands of sockets cannot lock others out. Only when every slot is reading
or running a request is the newcomer answered 503 at once by the accepting
thread (no thread, no read) and closed. A watchdog thread closes connections
that wait too long for the next request (idle), for their headers (slow-header
attacks that trickle a byte at a time) or for their body. A request being
processed has no deadline: in-flight requests finish.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer

from serving.limits import ConnectionLimits

log = logging.getLogger(__name__)

IDLE, HEADERS, BODY, PROCESSING = "idle", "headers", "body", "processing"


def _json_response(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message}).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Watch:
    """Client address, phase and deadline of one open connection."""

    __slots__ = ("peer", "phase", "deadline", "expired", "since")

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.phase = IDLE
        self.deadline = float("inf")
        self.expired = False
        self.since = time.monotonic()
        """When the connection entered its phase (the oldest idle one is evicted first)."""


class BoundedHTTPServer(HTTPServer):
    """An HTTPServer with a fixed worker pool, a connection cap and read deadlines."""

    daemon_threads = True

    def __init__(self, address, handler, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._pool = ThreadPoolExecutor(limits.rest_max_connections, thread_name_prefix="rest")
        self._lock = threading.Lock()
        self._open: dict[socket.socket, _Watch] = {}
        self.refused = 0
        """Connections answered 503 because a cap was reached and no slot was idle."""
        self.evicted = 0
        """Idle connections closed to make room for a new one."""
        self._closing = threading.Event()
        super().__init__(address, handler)  # binds; on failure calls server_close()
        threading.Thread(target=self._watchdog, name="rest-watchdog", daemon=True).start()

    # Accepting ---------------------------------------------------------------

    def process_request(self, request, client_address) -> None:
        """Runs the connection on the pool, evicting an idle one to make room if needed;
        refuses it (503) when every slot it could take is busy with a request."""
        peer = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        with self._lock:
            refusal = self._make_room(peer)
            if refusal is None:
                self._open[request] = _Watch(peer)
        if refusal is not None:
            self._refuse(request, refusal)
            return
        self._pool.submit(self._run, request, client_address)

    def _make_room(self, peer: str) -> str | None:
        """Evicts an idle connection if `peer` or the pool is at its cap; returns why the
        new connection is refused, or None. Caller holds the lock."""
        live = [(s, w) for s, w in self._open.items() if not w.expired]
        mine = sorted(((s, w) for s, w in live if w.peer == peer), key=lambda i: i[1].since)
        if len(mine) >= self.limits.rest_max_connections_per_peer:
            if self._evict(mine):
                return None
            return (
                f"too many connections from {peer} (limit "
                f"{self.limits.rest_max_connections_per_peer}, --rest-max-connections-per-peer)"
                "; retry later"
            )
        if len(live) < self.limits.rest_max_connections:
            return None
        per_peer: dict[str, int] = {}
        for _, watch in live:
            per_peer[watch.peer] = per_peer.get(watch.peer, 0) + 1
        # The busiest address gives up a connection first.
        live.sort(key=lambda item: (-per_peer[item[1].peer], item[1].since))
        if self._evict(live):
            return None
        return (
            f"too many connections (limit {self.limits.rest_max_connections}, "
            "--rest-max-connections); retry later"
        )

    def _evict(self, candidates: list[tuple[socket.socket, _Watch]]) -> bool:
        """Closes the first idle connection of `candidates` (in their order; the caller
        sorts them); False if none is idle."""
        idle = [(s, w) for s, w in candidates if w.phase == IDLE]
        if not idle:
            return False
        sock, watch = idle[0]
        watch.expired = True
        self.evicted += 1
        _shutdown(sock)  # its worker sees end of stream and frees the thread
        return True

    def _refuse(self, request: socket.socket, message: str) -> None:
        self.refused += 1
        try:
            request.setblocking(False)
            request.send(_json_response(503, "Service Unavailable", message))
            try:  # read what the client already sent, so closing does not reset the answer
                while request.recv(65536):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
        except OSError:
            pass
        self.shutdown_request(request)

    def _run(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - one broken connection must not stop the pool
            self.handle_error(request, client_address)
        finally:
            with self._lock:
                self._open.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """Connection-level errors (resets, timeouts) are routine: logged at debug."""
        log.debug("REST connection from %s ended with an error", client_address, exc_info=True)

    def server_close(self) -> None:
        """Stops the watchdog and the pool (open connections are closed)."""
        self._closing.set()
        super().server_close()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            _shutdown(sock)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def open_connections(self) -> int:
        """Connections open now."""
        with self._lock:
            return len(self._open)

    def connection_phases(self, peer: str | None = None) -> dict[str, int]:
        """How many open connections (of `peer`, or all) are in each phase."""
        counts: dict[str, int] = {}
        with self._lock:
            for watch in self._open.values():
                if not watch.expired and peer in (None, watch.peer):
                    counts[watch.phase] = counts.get(watch.phase, 0) + 1
        return counts

    # Deadlines ---------------------------------------------------------------

    def enter(self, sock: socket.socket, phase: str) -> bool:
        """Moves a connection to `phase` with that phase's deadline; False if it expired."""
        timeouts = {
            IDLE: self.limits.rest_idle_timeout_s,
            HEADERS: self.limits.rest_header_timeout_s,
            BODY: self.limits.rest_body_timeout_s,
        }
        with self._lock:
            watch = self._open.get(sock)
            if watch is None:
                return True
            if watch.expired:
                return False
            if not (phase == IDLE and watch.phase == IDLE):
                # A new connection has been idle since it was accepted, not since its
                # worker thread got to it: threads start in any order, and eviction
                # takes the oldest idle connection, so it must be the first accepted.
                watch.since = time.monotonic()
            watch.phase = phase
            timeout = timeouts.get(phase)
            watch.deadline = float("inf") if timeout is None else time.monotonic() + timeout
            return True

    def _watchdog(self) -> None:
        while not self._closing.wait(0.25):
            now = time.monotonic()
            with self._lock:
                late = [(s, w) for s, w in self._open.items() if not w.expired and w.deadline < now]
                for _, watch in late:
                    watch.expired = True
            for sock, watch in late:
                if watch.phase != IDLE:
                    message = f"request not received in time ({watch.phase} timeout)"
                    try:
                        sock.send(_json_response(408, "Request Timeout", message))
                    except OSError:
                        pass
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class DeadlineHandler(BaseHTTPRequestHandler):
    """Request handler whose reads are watched by `BoundedHTTPServer`'s deadlines."""

    server: BoundedHTTPServer

    def setup(self) -> None:
        # A per-call socket timeout as a backstop for writes to a client that stopped reading;
        # a second past the longest deadline, so the watchdog (0.25 s ticks) answers 408 first.
        self.timeout = 1.0 + max(
            self.server.limits.rest_idle_timeout_s, self.server.limits.rest_body_timeout_s
        )
        super().setup()

    def handle_one_request(self) -> None:
        """Waits (idle deadline) for a request's first byte, then reads it (header deadline)."""
        if not self.server.enter(self.connection, IDLE):
            self.close_connection = True
            return
        try:
            first = self.rfile.peek(1)
        except OSError:
            first = b""
        if not first or not self.server.enter(self.connection, HEADERS):
            self.close_connection = True
            return
        super().handle_one_request()

    def expired(self) -> bool:
        """True when the watchdog closed this connection (do not answer)."""
        return not self.server.enter(self.connection, PROCESSING)

    def start_body(self) -> bool:
        """Marks the start of a body read; False if the connection already expired."""
        return self.server.enter(self.connection, BODY)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (garbage request line, oversized header) as JSON with a status line.

        BaseHTTPRequestHandler answers a request line it cannot parse as HTTP/0.9: an
        HTML page with no status line at all.
        """
        if self.request_version == "HTTP/0.9" or not self.request_version.startswith("HTTP/"):
            self.request_version = "HTTP/1.1"
        self.close_connection = True
        short, _ = self.responses.get(code, ("Error", ""))
        text = f"{short}: {message}" if message and message != short else short
        body = json.dumps({"error": text}).encode("utf-8")
        try:
            self.send_response(code, short)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass
