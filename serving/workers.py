"""`vrl serve --workers N`: N server processes sharing one gRPC port and one REST port.

grpcio's synchronous server runs every request's Python (deserialising, the
handler, the send) under one GIL, so one process uses about one core however many
the host has. Here a supervisor process (which never imports TensorFlow) starts N
spawned worker processes; each loads the models and binds the same ports with
SO_REUSEPORT, and the kernel spreads incoming connections over them.

What is shared and what is per process:
- Metrics: every worker writes prometheus_client's multiprocess files in one
  folder; whichever worker answers the metrics page sums them, so counters and
  histograms cover the whole server (load counts are per loaded copy: N per version).
- Model versions: each worker polls the base paths (and the config file) itself,
  so a push is served by every worker within one poll interval.
- ModelService.HandleReloadConfigRequest reaches one worker; it reloads, then
  forwards the request to its siblings over their loopback-only gRPC ports and
  answers OK only when every worker has reloaded.
- Batching runs per worker (a batch only merges requests of one process).
- A worker that exits stops the whole server (the supervisor exits non-zero), so
  there is never a half-alive server answering on some connections only.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection, wait

from serving.metrics import MULTIPROC_ENV

log = logging.getLogger(__name__)

FORWARDED_KEY = "vrl-forwarded-reload"
"""gRPC metadata key on a reload forwarded by a sibling worker (not forwarded again)."""
STOP_GRACE_S = 30.0


class WorkerError(RuntimeError):
    """A worker failed to start, or exited while the server was running."""


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, non-listening SO_REUSEPORT socket that holds `port` (0: a free one).

    The workers bind the same port with SO_REUSEPORT; this socket keeps a port
    picked with 0 from being taken by anything else, and never receives connections.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if port:
        # A server already listening there with SO_REUSEPORT (say, a second `vrl serve
        # --workers` started by mistake) would otherwise silently share the port.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as e:
                raise OSError(
                    f"{host}:{port} is in use ({e.strerror}); stop the server there or "
                    "choose other ports"
                ) from e
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"could not reserve {host}:{port} for the workers ({e.strerror})") from e
    return sock


def forward_reload(request, targets: list[str], timeout: float = 300.0) -> None:
    """Sends a ReloadConfigRequest to sibling workers; raises ServingError naming a failure."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc

    from serving.errors import ServingError

    for target in targets:
        with grpc.insecure_channel(target) as channel:
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            try:
                response = stub.HandleReloadConfigRequest(
                    request, timeout=timeout, metadata=[(FORWARDED_KEY, "1")]
                )
            except grpc.RpcError as e:
                raise ServingError(
                    e.code(),
                    f"reload reached this worker but failed on worker {target}: {e.details()}",
                ) from e
            if response.status.error_code:
                raise ServingError(
                    grpc.StatusCode(response.status.error_code),
                    f"reload failed on worker {target}: {response.status.error_message}",
                )


def _worker_main(kwargs: dict, index: int, conn: Connection) -> None:
    """One worker process: serve, report readiness, learn the siblings, run until told."""
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s worker {index} %(name)s: %(message)s",
    )
    from serving.errors import ServingError
    from serving.server import start_server

    try:
        handle = start_server(**kwargs, reuse_port=True, internal_grpc_port=True)
    except (ValueError, OSError, RuntimeError, ServingError) as e:
        conn.send(("error", str(e)))
        raise SystemExit(2) from e
    conn.send(("ready", handle.internal_grpc_port, handle.core.registry.available()))

    def listen() -> None:
        # The supervisor sends the siblings' ports once; EOF means it is gone.
        try:
            while True:
                kind, ports = conn.recv()
                if kind == "peers":
                    own = handle.internal_grpc_port
                    handle.core.reload_peers = [f"127.0.0.1:{p}" for p in ports if p != own]
        except (EOFError, OSError):
            log.warning("supervisor gone; stopping")
            handle.stop()

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=handle.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    # Ctrl-C reaches the whole process group; the supervisor stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=listen, name="supervisor-pipe", daemon=True).start()
    handle.wait()
    # Stopped cleanly; skip joining the thread pools' idle threads and TensorFlow's
    # teardown at interpreter exit (seconds under load, nothing left to write).
    logging.shutdown()
    os._exit(0)


class Workers:
    """The supervisor's view: start N workers, wait for readiness, watch, stop."""

    def __init__(self, kwargs: dict, num_workers: int) -> None:
        if num_workers < 2:
            raise ValueError(f"--workers must be 2 or more for worker processes, got {num_workers}")
        self.kwargs = dict(kwargs)
        self.num_workers = num_workers
        self.available: dict = {}
        self._reserved: list[socket.socket] = []
        self._procs: list = []
        self._conns: list[Connection] = []
        self._stop = threading.Event()
        self._metrics_dir = ""

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers, in start order."""
        return [p.pid for p in self._procs]

    def start(self) -> None:
        """Reserves the ports, spawns the workers and waits until all serve; raises WorkerError."""
        host = self.kwargs.get("host", "127.0.0.1")
        for key in ("grpc_port", "rest_port"):
            if self.kwargs.get(key) is not None:
                sock = reserve_port(host, self.kwargs[key])
                self._reserved.append(sock)
                self.kwargs[key] = sock.getsockname()[1]
        # One folder of prometheus_client value files for all workers (spawned
        # children read the variable when they import prometheus_client).
        self._metrics_dir = tempfile.mkdtemp(prefix="vrl-serve-metrics-")
        os.environ[MULTIPROC_ENV] = self._metrics_dir
        ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
        for index in range(self.num_workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_worker_main, args=(self.kwargs, index, child), name=f"serve-worker-{index}"
            )
            proc.start()
            child.close()
            self._procs.append(proc)
            self._conns.append(parent)
        ports = [self._await_ready(i) for i in range(self.num_workers)]
        for conn in self._conns:
            conn.send(("peers", ports))

    def _await_ready(self, index: int) -> int:
        conn, proc = self._conns[index], self._procs[index]
        try:
            message = conn.recv()
        except EOFError:
            proc.join(5)
            self.stop()
            raise WorkerError(
                f"worker {index} exited with code {proc.exitcode} before serving; see its log"
            ) from None
        if message[0] == "error":
            self.stop()
            raise WorkerError(message[1])
        _, internal_port, self.available = message
        log.info("worker %d (pid %d) ready; internal gRPC port %s", index, proc.pid, internal_port)
        return internal_port

    @property
    def grpc_port(self) -> int | None:
        """The shared gRPC port (None: gRPC disabled)."""
        return self.kwargs.get("grpc_port")

    @property
    def rest_port(self) -> int | None:
        """The shared REST port (None: REST disabled)."""
        return self.kwargs.get("rest_port")

    def request_stop(self) -> None:
        """Asks `run` to stop the workers (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> int:
        """Blocks until `request_stop` (0) or a worker exits (1, the others are stopped)."""
        sentinels = {p.sentinel: (i, p) for i, p in enumerate(self._procs)}
        code = 0
        while not self._stop.is_set():
            ready = wait(list(sentinels), timeout=0.2)
            if ready and not self._stop.is_set():
                index, proc = sentinels[ready[0]]
                proc.join(1)
                log.error(
                    "worker %d (pid %d) exited with code %s; stopping the server",
                    index,
                    proc.pid,
                    proc.exitcode,
                )
                code = 1
                break
        self.stop()
        return code

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM to every live worker, SIGKILL after `grace` s; frees ports and files."""
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self._procs:
            proc.join(grace)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        for sock in self._reserved:
            sock.close()
        self._reserved.clear()
        if self._metrics_dir:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            os.environ.pop(MULTIPROC_ENV, None)
            self._metrics_dir = ""


def serve_workers(kwargs: dict, num_workers: int, on_ready: Callable[[Workers], None]) -> int:
    """Runs `num_workers` workers until SIGINT/SIGTERM; returns the process exit code."""
    workers = Workers(kwargs, num_workers)

    def stop(signum: int, frame: object) -> None:
        workers.request_stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    workers.start()
    on_ready(workers)
    return workers.run()
