"""Test-session settings and fixtures shared by the whole suite."""

from __future__ import annotations

import collections
import fcntl
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable

import pytest

# tf-agents 0.19 on TF 2.16 needs Keras 2; this must precede any TensorFlow import.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# `make test` runs files in two processes on two cores. TensorFlow sizes its
# intra-op pool to the machine in each, so two trainings at once ran four
# compute threads on two cores; each process (and every `vrl` or Kubeflow task
# it starts, which inherit the variable) gets its share of the cores instead.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, _share)))


def pytest_collection_modifyitems(items) -> None:
    """The longest files first: full pipeline runs (e2e), then the other slow files.
    `make test` deals files to its processes in collection order (pytest-xdist's
    `--no-loadscope-reorder`; by default it deals the files with the most tests
    first, which started the two longest files after minute three), so no process
    runs a long file alone at the end. A stable sort: the order within each group
    is unchanged."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("e2e") is None,
            item.get_closest_marker("slow") is None,
        )
    )


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


def _run_git(*args: str, cwd) -> str:
    """`git ARGS` in `cwd` with a fixed author and committer; its stdout, stripped."""
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t")
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def git() -> Callable[..., str]:
    """`git(*args, cwd=folder)`: runs git there with a fixed identity; returns its stdout."""
    return _run_git


@pytest.fixture
def git_checkout(tmp_path) -> tuple[str, str]:
    """(folder, full commit hash) of a new git checkout at `tmp_path/repo` with one commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _run_git("init", "-q", cwd=repo)
    (repo / "f").write_text("x")
    _run_git("add", "f", cwd=repo)
    _run_git("commit", "-qm", "one", cwd=repo)
    return str(repo), _run_git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture(scope="session")
def vrl_serve():
    """Starts `vrl serve` processes: `vrl_serve(argv) -> VrlServe`. Tests stop their own
    (`.stop()`); any still running when the session ends is stopped then."""
    starter = VrlServeStarter()
    yield starter
    for server in starter.started:
        server.stop()


# --- Pipeline runs built once per test session and shared by several test files.
# A real run costs tens of seconds, and several files check different things
# about the same kind of run (what it pushed, what `vrl status` says about it,
# its report). `shared_dir` builds a run's folder once even when pytest-xdist
# deals the files to several processes: the first process to ask builds it
# under an exclusive `flock`, the others wait on the lock and reuse it. Tests
# treat a shared folder as read-only; a test that needs to change one copies it.

COMPLETE = ".complete"
FAILED = ".failed"


def _shared_root(tmp_path_factory) -> str:
    """The session's base temp folder, the same for every xdist process."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # .../pytest-N/popen-gw0 -> .../pytest-N
    root = os.path.join(str(base), "shared-runs")
    os.makedirs(root, exist_ok=True)
    return root


def shared_dir(tmp_path_factory, name: str, build: Callable[[str], None]) -> str:
    """The folder `build(folder)` filled, built once per session under a lock.

    A build that raised is not retried by the next process: it fails with the
    first one's error instead of paying for the same failure twice.
    """
    root = _shared_root(tmp_path_factory)
    target = os.path.join(root, name)
    with open(os.path.join(root, f"{name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.path.exists(os.path.join(root, f"{name}{FAILED}")):
                with open(os.path.join(root, f"{name}{FAILED}"), encoding="utf-8") as f:
                    pytest.fail(f"shared run {name!r} failed to build earlier: {f.read()}")
            if not os.path.exists(os.path.join(target, COMPLETE)):
                shutil.rmtree(target, ignore_errors=True)
                os.makedirs(target)
                try:
                    build(target)
                except BaseException as error:
                    with open(os.path.join(root, f"{name}{FAILED}"), "w", encoding="utf-8") as f:
                        f.write(f"{type(error).__name__}: {error}")
                    raise
                open(os.path.join(target, COMPLETE), "w").close()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


CARTPOLE_MODEL = "dqn_cartpole_v1"


@pytest.fixture(scope="session")
def cartpole_homes(tmp_path_factory) -> tuple[str, str]:
    """(before, after): CartPole-v1 run by `vrl run rl` as a user runs it (the default
    DQN config, 2,500 steps, 5 evaluation episodes). `before` holds one run under a
    threshold no policy meets (evaluated, not blessed, nothing pushed); `after` is the
    same home after a second run under threshold 0 (blessed and pushed)."""

    def build(folder: str) -> None:
        from vrl.cli import main

        after = os.path.join(folder, "after")
        # 2,500 steps: the default config trains from step 1,000, and only a policy
        # that trained and beats a random one is blessed.
        common = ["run", "rl", "--env", "CartPole-v1", "--home", after, "--steps", "2500"]
        common += ["--eval-episodes", "5"]
        if main([*common, "--threshold", "100000"]) != 0:
            raise RuntimeError("vrl run rl --threshold 100000 did not exit 0")
        shutil.copytree(after, os.path.join(folder, "before"))
        if main([*common, "--threshold", "0"]) != 0:
            raise RuntimeError("vrl run rl --threshold 0 did not exit 0")

    folder = shared_dir(tmp_path_factory, "cartpole", build)
    return os.path.join(folder, "before"), os.path.join(folder, "after")


# --- Rendering a `vrl report` page as a person would see it: headless Chromium
# (Debian's package `chromium`; .ci/run installs it), with no network.


def _open_in_chromium(out: str, tmp_path) -> tuple[int, int, int, bool]:
    """The page's load-check marks from a headless Chromium DOM dump, after a screenshot
    that is not blank."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("no chromium on PATH (Debian package `chromium`)")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    # No network: a page that needs one would show a blank box or fail to load a script.
    flags += ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    dom = subprocess.run(
        [*flags, "--window-size=1000,1600", "--dump-dom", f"file://{out}"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    body = re.search(
        r'<body data-images="(\d+)/(\d+)" data-errors="(\d+)" data-overflow="(\w+)"', dom
    )
    assert body, "the page's load check did not run"
    shot = str(tmp_path / "report.png")
    subprocess.run(
        [*flags, "--window-size=1200,1600", f"--screenshot={shot}", f"file://{out}"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert os.path.getsize(shot) > 10_000 and not _png_is_blank(shot)
    loaded, total, errors = map(int, body.groups()[:3])
    return loaded, total, errors, body.group(4) == "true"


def _png_is_blank(path: str) -> bool:
    """True when every pixel of the screenshot has the same colour."""
    data = open(path, "rb").read()
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    return len(set(raw[1:4096])) <= 2 and len(set(raw[-4096:])) <= 2


@pytest.fixture(scope="session")
def open_in_chromium():
    """`open_in_chromium(html_path, tmp_path) -> (loaded, total, errors, overflow)`: the
    page's load-check marks from Chromium's DOM dump, after a screenshot that is not
    blank. Skips when no Chromium is installed."""
    return _open_in_chromium
