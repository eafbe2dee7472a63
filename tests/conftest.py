"""Test-session settings and fixtures shared by the whole suite."""

from __future__ import annotations

import collections
import os
import select
import signal
import socket
import subprocess
import sys
import threading

import pytest

# tf-agents 0.19 on TF 2.16 needs Keras 2; this must precede any TensorFlow import.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(items) -> None:
    """Full pipeline runs first: `make test` deals test files to two processes in
    collection order, and starting the longest files first keeps one process from
    running a long end-to-end file alone at the end (a stable sort: the order
    within each group is unchanged)."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)


class VrlServe:
    """A `vrl serve` subprocess that has printed its "serving ..." line.

    Its stdout and stderr are read all the time by two threads (so a chatty server
    never blocks on a full pipe); the last lines are kept for error messages.
    """

    def __init__(self, argv: list[str], timeout: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vrl.serve", "serve", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        )
        self._tail: collections.deque[str] = collections.deque(maxlen=200)
        stderr_reader = self._drain(self.proc.stderr)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        self.line = self.proc.stdout.readline() if ready else ""
        if not self.line.startswith("serving"):
            self.stop()
            stderr_reader.join(timeout=5)
            raise RuntimeError(
                f"vrl serve {' '.join(argv)} did not start within {timeout:.0f} s: "
                f"{self.line!r}\n{self.output()[-2000:]}"
            )
        self._drain(self.proc.stdout)

    def _drain(self, stream) -> threading.Thread:
        reader = threading.Thread(target=self._tail.extend, args=(stream,), daemon=True)
        reader.start()
        return reader

    @property
    def grpc_target(self) -> str:
        """host:port of its gRPC API, as printed ("off" when disabled)."""
        return self.line.split("gRPC ")[1].split(",")[0]

    @property
    def rest_url(self) -> str:
        """http://host:port of its REST API, as printed ("off" when disabled)."""
        return self.line.split("REST ")[1].split()[0]

    def output(self) -> str:
        """Its last 200 lines of stdout and stderr."""
        return "".join(self._tail)

    def stop(self) -> int:
        """SIGTERM, then wait (kill if it hangs 30 s); returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class VrlServeStarter:
    """What the `vrl_serve` fixture gives a test: start servers, pick free ports."""

    def __init__(self) -> None:
        self.started: list[VrlServe] = []

    def __call__(self, argv: list[str], timeout: float = 120.0) -> VrlServe:
        """`python -m vrl.serve serve ARGV`, returned once it prints "serving ..."."""
        server = VrlServe(argv, timeout)
        self.started.append(server)
        return server

    @staticmethod
    def free_port() -> int:
        """A loopback port free right now."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]


@pytest.fixture(scope="session")
def vrl_serve():
    """Starts `vrl serve` processes: `vrl_serve(argv) -> VrlServe`. Tests stop their own
    (`.stop()`); any still running when the session ends is stopped then."""
    starter = VrlServeStarter()
    yield starter
    for server in starter.started:
        server.stop()
