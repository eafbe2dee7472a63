"""Starting and stopping the local TF-Serving-compatible server (gRPC + REST)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.core import ServingCore
from serving.grpc_health import add_health_service
from serving.grpc_service import ModelServicer, PredictionServicer
from serving.limits import ConnectionLimits
from serving.log_limits import limit_request_logs
from serving.metrics import Metrics
from serving.model_config import load_config_file
from serving.model_source import build_registry, version_loader, watch_config_file
from serving.options import ServerOptions
from serving.request_log import RequestLogger
from serving.rest import RestServer

log = logging.getLogger(__name__)

STOP_JOIN_S = 120.0
"""Longest `stop()` waits for a model load in progress to finish."""
REST_STOP_POLL_S = 0.05
"""How often the REST listener's loop looks for a stop: `stop()` waits up to this long
for it (socketserver's default of 0.5 s made every stop half a second slower)."""


class ServerHandle:
    """A running server: its bound ports, `stop()` and readiness waits."""

    def __init__(self, core: ServingCore, grpc_server, grpc_port, rest_server, rest_port) -> None:
        self.core = core
        self.grpc_port: int | None = grpc_port
        self.rest_port: int | None = rest_port
        self._grpc_server = grpc_server
        self._rest_server = rest_server
        self._stopped = threading.Event()
        self._done = threading.Event()
        self.config_thread: threading.Thread | None = None
        """Re-reads the model config file (--model_config_file_poll_wait_seconds)."""

    def wait_until_available(
        self, model_name: str, timeout: float = 60.0, version: int | None = None
    ) -> int:
        """Blocks until `model_name` (or that version) is served; returns the latest version."""
        deadline = time.monotonic() + timeout
        while True:
            versions = self.core.registry.available().get(model_name, [])
            if versions and (version is None or version in versions):
                return max(versions)
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"model {model_name!r}{'' if version is None else f' version {version}'} "
                    f"not available after {timeout:.0f} s; served: {self.core.registry.available()}"
                )
            time.sleep(0.05)

    def stop(self, grace: float = 1.0) -> None:
        """Stops accepting requests, lets in-flight ones finish for `grace` s, stops threads."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._grpc_server is not None:
            self._grpc_server.stop(grace).wait()
        if self._rest_server is not None:
            self._rest_server.shutdown()
            self._rest_server.server_close()
        self.core.stop()
        if self.config_thread is not None:
            # A reload may be loading a SavedModel; the process must not exit inside it
            # (TensorFlow aborts when the interpreter finalises under a running load).
            self.config_thread.join(timeout=STOP_JOIN_S)
        self._done.set()
        log.info("server stopped")

    def wait(self) -> str | None:
        """Blocks until `stop()` (called from a signal handler or another thread) has
        finished; returns why the server stopped itself, or None. It stops itself when its
        model watcher died, so the process can exit non-zero for an orchestrator to restart."""
        while not self._done.wait(0.5):
            if failure := self.core.registry.watcher_failure():
                log.critical("stopping: the model watcher died (%s)", failure)
                self.stop()
                return failure
        return None


def _set_tf_threads(intra: int, inter: int) -> None:
    import tensorflow as tf

    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError as e:  # TensorFlow already initialized in this process
        log.warning("TensorFlow thread pools already set up; ignoring thread settings: %s", e)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _grpc_connection_options(connections: ConnectionLimits) -> list[tuple[str, int]]:
    """gRPC core arguments for the connection caps (grpcio >= 1.84 enforces the count
    before the handshake: a connection over it is closed, the client sees UNAVAILABLE)."""
    return [
        ("grpc.max_allowed_incoming_connections", connections.grpc_max_connections),
        ("grpc.max_connection_idle_ms", int(connections.grpc_idle_timeout_s * 1000)),
        ("grpc.server_handshake_timeout_ms", int(connections.grpc_handshake_timeout_s * 1000)),
    ]


def start_server(options: ServerOptions) -> ServerHandle:
    """Loads the models and starts serving as `options` say; returns once the ports are
    bound. Raises OSError when a port cannot be bound or a request log folder cannot be
    written, RuntimeError when `options.require_loaded` and a model has no version."""
    limit_request_logs()  # what clients can make the server log, bounded
    _set_tf_threads(options.intra_op_threads, options.inter_op_threads)
    core = _start_core(options)
    grpc_server = bound_grpc = rest_server = bound_rest = None
    try:
        if options.grpc_port is not None:
            grpc_server, bound_grpc = _start_grpc(options, core)
        if options.rest_port is not None:
            rest_server, bound_rest = _start_rest(options, core)
    except OSError:
        if grpc_server is not None:
            grpc_server.stop(0)
        core.stop()
        raise
    log.info(
        "serving %s on %s (gRPC %s, REST %s)",
        core.registry.available(),
        options.host,
        bound_grpc,
        bound_rest,
    )
    handle = ServerHandle(core, grpc_server, bound_grpc, rest_server, bound_rest)
    if options.model_config and options.config_poll_seconds > 0:
        handle.config_thread = threading.Thread(
            target=watch_config_file,
            args=(
                core.reload,
                options.model_config,
                options.config_poll_seconds,
                handle._stopped,
            ),
            name="config-poll",
            daemon=True,
        )
        handle.config_thread.start()
    return handle


def _start_core(options: ServerOptions) -> ServingCore:
    """The registry (models loading), the request logger and the core both front ends call."""
    metrics = Metrics()
    registry = build_registry(
        options.model_base,
        options.model_config,
        options.model_name,
        options.poll_seconds,
        version_loader(
            metrics, options.warmup, options.warmup_iterations, options.saved_model_tags
        ),
        options.allow_labels_for_unavailable,
    )
    log_specs = load_config_file(options.model_config) if options.model_config else []
    # Before any load, so an unwritable log folder refuses the start at once.
    request_log = RequestLogger(log_specs, metrics, options.request_log_limits)
    registry.start()
    core = ServingCore(
        registry,
        options.batching,
        metrics,
        options.method_name_check,
        options.tensor_content,
        options.limits,
        request_log,
    )
    if options.require_loaded and (problem := registry.failed_to_start()):
        core.stop()
        raise RuntimeError(f"nothing to serve: {problem}")
    return core


def _start_grpc(options: ServerOptions, core: ServingCore) -> tuple[grpc.Server, int]:
    """The gRPC front end (PredictionService, ModelService, optional health), started."""
    address = _address(options.host, options.grpc_port)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.grpc_workers, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", options.max_request_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
            *_grpc_connection_options(options.connections),
            *options.grpc_options,
        ],
        # Calls beyond this wait nowhere: grpcio answers RESOURCE_EXHAUSTED at once.
        maximum_concurrent_rpcs=options.connections.grpc_max_concurrent_rpcs,
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(core), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelServicer(core, options.admin_rpc), server
    )
    if options.grpc_health:
        add_health_service(server)
    try:
        # grpcio returns 0 on older releases and raises RuntimeError on newer ones.
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise OSError(
            f"could not bind gRPC to {address} (port in use?); choose another --grpc-port / --port"
        )
    server.start()
    return server, bound


def _start_rest(options: ServerOptions, core: ServingCore) -> tuple[RestServer, int]:
    """The REST front end, serving on its own thread."""
    try:
        server = RestServer(
            (options.host, options.rest_port),
            core,
            min(options.max_request_bytes, options.limits.max_rest_body_bytes),
            options.metrics_path,
            options.rest_threads,
            options.connections,
            options.rest_timeout_s,
        )
    except OSError as e:
        raise OSError(
            f"could not bind REST to {options.host}:{options.rest_port} ({e.strerror}); "
            "choose another --rest-port / --rest_api_port"
        ) from e
    threading.Thread(
        target=server.serve_forever, args=(REST_STOP_POLL_S,), name="rest", daemon=True
    ).start()
    return server, server.server_address[1]
