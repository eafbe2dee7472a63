"""REST front end as TF Serving documents it, plus metrics and health endpoints.

GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            model status
GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata   signature defs
POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict    row or columnar
GET  /monitoring/prometheus/metrics                          Prometheus text
GET  /healthz                                                liveness + loaded versions
"""

from __future__ import annotations

import json
import logging
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf import json_format

from serving.core import ServingCore
from serving.errors import ServingError, invalid
from serving.grpc_service import signature_def_map
from serving.rest_json import format_classify, format_predict, parse_examples, parse_predict

log = logging.getLogger(__name__)

_MODEL_URL = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<action>/metadata|:predict|:classify|:regress)?$"
)
METRICS_PATH = "/monitoring/prometheus/metrics"
HEALTH_PATH = "/healthz"


class RestServer(ThreadingHTTPServer):
    """HTTP server holding the serving core and the request size limit."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # many clients connecting at once must not wait for SYN retries

    def __init__(self, address: tuple[str, int], core: ServingCore, max_body_bytes: int) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, RestHandler)
        self.core = core
        self.max_body_bytes = max_body_bytes


class RestHandler(BaseHTTPRequestHandler):
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
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, error: ServingError) -> None:
        self._send(error.http_status, {"error": error.message})

    def _handle(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if method == "GET" and path == METRICS_PATH:
                text = self.server.core.metrics_text().encode("utf-8")
                self._send(200, text, "text/plain; version=0.0.4")
                return
            if method == "GET" and path == HEALTH_PATH:
                self._send(200, {"status": "ok", "models": self.server.core.registry.available()})
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
        except ServingError as e:
            self._error(e)
        except Exception as e:  # noqa: BLE001 - the server must answer, never crash
            log.exception("REST %s %s failed", method, path)
            self._error(ServingError(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}"))

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
                f"{self.server.max_body_bytes} bytes",
            )
        return self.rfile.read(length)

    def _route(self, method: str, path: str, match: re.Match) -> None:
        core = self.server.core
        name, action = match["name"], match["action"]
        version = int(match["version"]) if match["version"] else None
        label = match["label"]
        if method == "GET" and action is None:
            with core.measure(name, "status", "REST"):
                statuses = core.registry.status(name, version, label)
            self._send(
                200,
                {
                    "model_version_status": [
                        {
                            "version": str(s.version),
                            "state": s.state,
                            "status": {
                                "error_code": "UNKNOWN" if s.error else "OK",
                                "error_message": s.error,
                            },
                        }
                        for s in statuses
                    ]
                },
            )
        elif method == "GET" and action == "/metadata":
            with core.measure(name, "metadata", "REST") as info:
                servable = core.registry.resolve(name, version, label)
                info["version"] = str(servable.version)
                sdm = json_format.MessageToDict(
                    signature_def_map(servable), preserving_proto_field_name=True
                )
            self._send(
                200,
                {
                    "model_spec": {
                        "name": name,
                        "signature_name": "",
                        "version": str(servable.version),
                    },
                    "metadata": {"signature_def": sdm},
                },
            )
        elif method == "POST" and action == ":predict":
            body = self._read_body()
            with core.measure(name, "predict", "REST") as info:
                servable = core.registry.resolve(name, version, label)
                info["version"] = str(servable.version)
                signature, inputs, row_format = parse_predict(body, servable)
                payload = format_predict(core.predict(servable, signature, inputs), row_format)
            self._send(200, payload)
        elif method == "POST" and action in (":classify", ":regress"):
            body = self._read_body()
            api = action[1:]
            with core.measure(name, api, "REST") as info:
                servable = core.registry.resolve(name, version, label)
                info["version"] = str(servable.version)
                signature, examples = parse_examples(body)
                if api == "classify":
                    payload = format_classify(*core.classify(servable, signature, examples))
                else:
                    payload = {"results": core.regress(servable, signature, examples).tolist()}
            self._send(200, payload)
        else:
            if method == "POST":
                self._read_body()
            raise invalid(f"Malformed request: {method} {path}")
