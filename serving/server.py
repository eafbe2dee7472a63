"""Starting and stopping the local TF-Serving-compatible server (gRPC + REST)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.batching import BatchingOptions
from serving.core import ServingCore
from serving.grpc_health import add_health_service
from serving.grpc_service import ModelServicer, PredictionServicer
from serving.limits import ConnectionLimits, RequestLimits
from serving.log_limits import limit_request_logs
from serving.metrics import Metrics
from serving.model_config import load_config_file
from serving.model_source import build_registry, version_loader, watch_config_file
from serving.request_log import RequestLogger
from serving.request_log_limits import RequestLogLimits
from serving.rest import METRICS_PATH, RestServer
from serving.servable import SERVE_TAGS

log = logging.getLogger(__name__)

# TF Serving: builder.SetMaxMessageSize(std::numeric_limits<int32_t>::max()).
DEFAULT_MAX_REQUEST_BYTES = 2**31 - 1
STOP_JOIN_S = 120.0
"""Longest `stop()` waits for a model load in progress to finish."""


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


def start_server(
    model_base: str | None = None,
    model_config: str | None = None,
    grpc_port: int | None = 8500,
    rest_port: int | None = 8501,
    host: str = "127.0.0.1",
    poll_seconds: float = 2.0,
    batching: BatchingOptions | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    grpc_workers: int = 32,
    intra_op_threads: int = 0,
    inter_op_threads: int = 0,
    model_name: str | None = None,
    config_poll_seconds: float = 0.0,
    allow_labels_for_unavailable: bool = False,
    method_name_check: bool = False,
    tensor_content: bool = False,
    metrics_path: str | None = METRICS_PATH,
    warmup: bool = True,
    warmup_iterations: int = 1,
    rest_threads: int | None = None,
    require_loaded: bool = False,
    grpc_options: list[tuple[str, int | str]] = (),
    limits: RequestLimits | None = None,
    connections: ConnectionLimits | None = None,
    rest_timeout_s: float = 30.0,
    grpc_health: bool = False,
    saved_model_tags: tuple[str, ...] = SERVE_TAGS,
    request_log_limits: RequestLogLimits | None = None,
) -> ServerHandle:
    """Loads the models and starts serving; returns once both ports are bound.

    Args:
      model_base: serve every model folder under this base path; with `model_name`,
        this is that one model's folder (TF Serving's --model_base_path).
      model_config: or a text-proto ModelServerConfig file (wins over model_base).
      grpc_port, rest_port: 0 picks a free port, None disables that front end.
      host: interface to bind (loopback by default).
      poll_seconds: how often base paths are checked for new versions.
      batching: server-side batching options (None: no batching).
      max_request_bytes: largest gRPC message / REST body accepted.
      grpc_workers: gRPC handler threads (bounds concurrent requests).
      intra_op_threads, inter_op_threads: TensorFlow thread pools, like TF Serving's
        --tensorflow_intra_op_parallelism / --tensorflow_inter_op_parallelism
        (0: TensorFlow's default; only effective before TensorFlow first runs an op).
      model_name: single-model mode (TF Serving's --model_name).
      config_poll_seconds: re-read `model_config` this often (0: never).
      allow_labels_for_unavailable: --allow_version_labels_for_unavailable_models.
      method_name_check: --enable_signature_method_name_check.
      tensor_content: --enable_serialization_as_tensor_content.
      metrics_path: URL path of the Prometheus page (None: not published).
      warmup, warmup_iterations: replay assets.extra/tf_serving_warmup_requests at load.
      rest_threads: most REST requests handled at once (None: unbounded).
      require_loaded: fail unless every model has a loaded version once started.
      grpc_options: further gRPC server arguments (--grpc_channel_arguments).
      limits: caps on one request (elements, rows, decoded bytes, JSON depth, images).
      connections: connection caps and timeouts of both front ends.
      rest_timeout_s: --rest_api_timeout_in_ms: deadline of a REST model call.
      grpc_health: --enable_grpc_healthcheck_service: serve grpc.health.v1.Health.
      saved_model_tags: --saved_model_tags: the meta graph loaded from each SavedModel.
      request_log_limits: queue, file and folder bounds of the models' logging_config
        request logs (read from `model_config` at start; a folder that cannot be
        written refuses the start with OSError).
    """
    limits = limits or RequestLimits()
    connections = connections or ConnectionLimits()
    limit_request_logs()  # what clients can make the server log, bounded
    _set_tf_threads(intra_op_threads, inter_op_threads)
    metrics = Metrics()
    registry = build_registry(
        model_base,
        model_config,
        model_name,
        poll_seconds,
        version_loader(metrics, warmup, warmup_iterations, saved_model_tags),
        allow_labels_for_unavailable,
    )
    log_specs = load_config_file(model_config) if model_config else []
    request_log = RequestLogger(log_specs, metrics, request_log_limits)  # before any load
    registry.start()
    core = ServingCore(registry, batching, metrics, method_name_check, tensor_content, limits)
    core.request_log = request_log
    if require_loaded and (problem := registry.failed_to_start()):
        core.stop()
        raise RuntimeError(f"nothing to serve: {problem}")

    grpc_server = bound_grpc = None
    if grpc_port is not None:
        grpc_server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=grpc_workers, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", max_request_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),
                *_grpc_connection_options(connections),
                *grpc_options,
            ],
            # Calls beyond this wait nowhere: grpcio answers RESOURCE_EXHAUSTED at once.
            maximum_concurrent_rpcs=connections.grpc_max_concurrent_rpcs,
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(core), grpc_server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(core), grpc_server)
        if grpc_health:
            add_health_service(grpc_server)
        try:
            # grpcio returns 0 on older releases and raises RuntimeError on newer ones.
            bound_grpc = grpc_server.add_insecure_port(_address(host, grpc_port))
        except RuntimeError:
            bound_grpc = 0
        if not bound_grpc:
            core.stop()
            raise OSError(
                f"could not bind gRPC to {_address(host, grpc_port)} (port in use?); "
                "choose another --grpc-port / --port"
            )
        grpc_server.start()

    rest_server = bound_rest = None
    if rest_port is not None:
        try:
            rest_server = RestServer(
                (host, rest_port),
                core,
                min(max_request_bytes, limits.max_rest_body_bytes),
                metrics_path,
                rest_threads,
                connections,
                rest_timeout_s,
            )
        except OSError as e:
            if grpc_server is not None:
                grpc_server.stop(0)
            core.stop()
            raise OSError(
                f"could not bind REST to {host}:{rest_port} ({e.strerror}); "
                "choose another --rest-port / --rest_api_port"
            ) from e
        bound_rest = rest_server.server_address[1]
        threading.Thread(target=rest_server.serve_forever, name="rest", daemon=True).start()

    log.info(
        "serving %s on %s (gRPC %s, REST %s)",
        registry.available(),
        host,
        bound_grpc,
        bound_rest,
    )
    handle = ServerHandle(core, grpc_server, bound_grpc, rest_server, bound_rest)
    if model_config and config_poll_seconds > 0:
        handle.config_thread = threading.Thread(
            target=watch_config_file,
            args=(registry, model_config, config_poll_seconds, handle._stopped),
            name="config-poll",
            daemon=True,
        )
        handle.config_thread.start()
    return handle
