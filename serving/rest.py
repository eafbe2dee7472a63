"""REST front end as TF Serving documents it, plus metrics and health endpoints.

GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            model status
GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata   signature defs
POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict    row or columnar
GET  /monitoring/prometheus/metrics (or the monitoring config's path)  Prometheus text
GET  /healthz                    200 while every model has a servable version, else 503
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from typing import Any

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import model_pb2

from serving import json_text
from serving.core import ServingCore
from serving.errors import ServingError, invalid
from serving.grpc_service import examples_log_parts, signature_def_map, status_response
from serving.json_text import float32_text
from serving.limits import ConnectionLimits
from serving.metrics import DEFAULT_PATH
from serving.rest_connections import BoundedHTTPServer, DeadlineHandler
from serving.rest_json import format_classify, format_predict, parse_examples, parse_predict

log = logging.getLogger(__name__)

_MODEL_URL = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<action>/metadata|:predict|:classify|:regress)?$"
)
METRICS_PATH = DEFAULT_PATH
BODY_CHUNK = 1 << 20
"""Bytes of a request body read per --rest-body-timeout (the least rate a body may arrive at)."""
HEALTH_PATH = "/healthz"


def _proto_json(message, preserve_names: bool = True) -> dict:
    """A message as TF Serving's REST API prints it: fields with default values included."""
    return json_format.MessageToDict(
        message, including_default_value_fields=True, preserving_proto_field_name=preserve_names
    )


class _Expired(Exception):
    """The watchdog closed the connection while its request was being read."""


class RestServer(BoundedHTTPServer):
    """HTTP server holding the serving core, the request size limit and connection limits."""

    allow_reuse_address = True
    request_queue_size = 128  # many clients connecting at once must not wait for SYN retries

    def __init__(
        self,
        address: tuple[str, int],
        core: ServingCore,
        max_body_bytes: int,
        metrics_path: str | None = METRICS_PATH,
        num_threads: int | None = None,
        connections: ConnectionLimits | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, RestHandler, connections or ConnectionLimits())
        self.core = core
        self.max_body_bytes = max_body_bytes
        self.metrics_path = metrics_path
        """Where Prometheus metrics are published (None: not published)."""
        self.slots = threading.BoundedSemaphore(num_threads) if num_threads else None
        """--rest_api_num_threads: most requests processed at once (connections may be more)."""
        self.timeout_s = timeout_s
        """--rest_api_timeout_in_ms: deadline of a model call, from its body's arrival."""


class RestHandler(DeadlineHandler):
    """One HTTP request; every failure becomes {"error": ...} with TF Serving's status."""

    protocol_version = "HTTP/1.1"
    server: RestServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to every keep-alive reply.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        log.debug("REST %s", format % args)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json_text.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, error: ServingError) -> None:
        self._send(error.http_status, {"error": error.message})

    def _handle(self, method: str) -> None:
        if self.expired():
            self.close_connection = True
            return
        if self.server.slots is None:
            self._process(method)
            return
        with self.server.slots:
            self._process(method)

    def _process(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if method == "GET" and path == self.server.metrics_path:
                text = self.server.core.metrics_text().encode("utf-8")
                self._send(200, text, "text/plain; version=0.0.4")
                return
            if method == "GET" and path == HEALTH_PATH:
                self._health()
                return
            match = _MODEL_URL.match(path)
            if match is None:
                if method == "POST":
                    # The body is left unread: it must not be parsed as the next request.
                    self.close_connection = True
                if path.startswith("/v1/"):
                    raise invalid(f"Malformed request: {method} {path}")
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Not found: {method} {path}")
            self._route(method, path, match)
        except _Expired:
            self.close_connection = True
        except ServingError as e:
            self._error(e)
        except Exception:  # noqa: BLE001 - the server must answer, never crash
            log.exception("REST %s %s failed", method, path)
            self._error(
                ServingError(grpc.StatusCode.INTERNAL, "internal error; see the server log")
            )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise invalid("chunked request bodies are not supported; send Content-Length")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError as e:
            self.close_connection = True
            raise invalid("Content-Length header is not an integer") from e
        if length < 0:
            self.close_connection = True
            raise invalid(f"Content-Length must be >= 0, got {length}")
        if length > self.server.max_body_bytes:
            self.close_connection = True  # the body is left unread
            raise ServingError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"request body of {length} bytes exceeds the limit of "
                f"{self.server.max_body_bytes} bytes (--max-rest-body-mb, --max-request-mb)",
            )
        # The body deadline is re-armed for every chunk: a body that keeps arriving at
        # BODY_CHUNK per --rest-body-timeout is read however large it is (an 11 MB body
        # on a loaded machine), a stalled one is closed one timeout after it stalls.
        chunks, received = [], 0
        while received < length:
            if not self.start_body():
                raise _Expired()
            chunk = self.rfile.read(min(BODY_CHUNK, length - received))
            if not chunk:
                raise _Expired()
            chunks.append(chunk)
            received += len(chunk)
        if self.expired():
            raise _Expired()
        return b"".join(chunks)

    def _health(self) -> None:
        """200 while every configured model has a servable version, else 503 naming it."""
        registry = self.server.core.registry
        problem = registry.unservable()
        if problem is None:
            self._send(200, {"status": "ok", "models": registry.available()})
        else:
            self._send(
                503, {"status": "unavailable", "error": problem, "models": registry.available()}
            )

    def _route(self, method: str, path: str, match: re.Match) -> None:
        core = self.server.core
        name, action = match["name"], match["action"]
        version = int(match["version"]) if match["version"] else None
        label = match["label"]
        if method == "GET" and action is None:
            # TF Serving's GetModelStatusImpl ignores a version label.
            with core.measure(name, "", "REST"):
                response = status_response(core.registry.status(name, version))
            self._send(200, _proto_json(response, preserve_names=False))
        elif method == "GET" and action == "/metadata":
            with core.measure(name, "", "REST"):
                servable = core.registry.resolve(name, version, label)
                spec = model_pb2.ModelSpec(name=name)
                spec.version.value = servable.version
                payload = {
                    "model_spec": _proto_json(spec),
                    "metadata": {"signature_def": _proto_json(signature_def_map(servable))},
                }
            self._send(200, payload)
        elif method == "POST" and action == ":predict":
            body = self._read_body()
            deadline = time.monotonic() + self.server.timeout_s
            with core.measure(name, "predict", "REST") as info:
                servable = core.registry.resolve(name, version, label)
                info["version"] = str(servable.version)
                signature, inputs, row_format, budget = parse_predict(body, servable, core.limits)
                outputs = core.predict(
                    servable, signature, inputs, budget=budget, deadline=deadline
                )
                core.log_request("predict_log", servable, signature, (inputs, outputs))
                payload = format_predict(outputs, row_format)
            self._send(200, payload)
        elif method == "POST" and action in (":classify", ":regress"):
            body = self._read_body()
            deadline = time.monotonic() + self.server.timeout_s
            api = action[1:]
            with core.measure(name, api, "REST") as info:
                servable = core.registry.resolve(name, version, label)
                info["version"] = str(servable.version)
                signature, examples = parse_examples(body, core.limits)
                if api == "classify":
                    result = core.classify(servable, signature, examples, deadline)
                    payload = format_classify(*result)
                else:
                    result = core.regress(servable, signature, examples, deadline)
                    payload = {"results": [float32_text(v) for v in result.tolist()]}
                parts = examples_log_parts(api, servable, signature, examples, result)
                core.log_request(f"{api}_log", servable, signature, parts)
            self._send(200, payload)
        else:
            if method == "POST":
                self._read_body()
            raise invalid(f"Malformed request: {method} {path}")
