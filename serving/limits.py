"""What one request and one connection may cost, checked before anything is allocated.

Every check runs on what the request declares (a TensorProto's shape, a JSON
document's row count, an encoded image's header) before the server builds
arrays, decodes images or runs the model, so a 57-byte message declaring
forty million values or a 1.5 MB PNG declaring 20000x20000 pixels is refused
at the cost of reading it. Over a size cap the answer is RESOURCE_EXHAUSTED
(HTTP 429, as TF Serving maps it); a request contradicting itself (declared
size vs values sent, nesting, garbage) is INVALID_ARGUMENT (HTTP 400).

Importing this module does not import TensorFlow (the flags read its defaults).
"""

from __future__ import annotations

import dataclasses
import math

import grpc

from serving.errors import ServingError, invalid

MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Caps on one request (Predict, Classify, Regress; gRPC and REST alike)."""

    max_tensor_elements: int = 16 * MIB
    """Most values over all inputs of one request (declared shape, before allocation)."""
    max_batch_rows: int = 16_384
    """Most rows (first dimension) in one input, or examples in one Classify/Regress."""
    max_decoded_bytes: int = 256 * MIB
    """Most bytes the inputs take once decoded: numeric values, strings, and each image's
    decoded pixels (width x height x 4 channels x bytes per sample x frames) read from its
    header."""
    max_images: int = 256
    """Most encoded images in one request (image inputs and the images of tf.Examples).
    However small an image is sent, the model decodes it and runs it at its full input
    size: 16,384 8x8 PNGs (1.3 MB) took the 32 px demo CNN to +4.7 GB and ~60 s."""
    max_json_depth: int = 32
    """Deepest nesting of a REST JSON body (rank-4 image rows need 6)."""
    max_rest_body_bytes: int = 64 * MIB
    """Largest REST body: parsed JSON takes up to ~20x its text in Python objects."""
    max_image_side: int | None = None
    """Largest width or height of an image input (None: ImageExampleGen's ingest limit)."""
    max_image_pixels: int | None = None
    """Most pixels of an image input (None: ImageExampleGen's ingest limit)."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None and value < 1:
                raise ValueError(f"RequestLimits.{field.name} must be >= 1, got {value}")


@dataclasses.dataclass(frozen=True)
class ConnectionLimits:
    """Connection hygiene for both front ends."""

    rest_max_connections: int = 256
    """Open REST connections at most (= REST worker threads). A new connection over it
    closes the oldest idle one (the busiest client's first); 503 only when none is idle."""
    rest_max_connections_per_peer: int = 64
    """Open REST connections from one client address at most; over it, that client's
    oldest idle connection is closed, or the new one gets 503 when none is idle."""
    rest_idle_timeout_s: float = 60.0
    """A keep-alive REST connection waiting this long for its next request is closed."""
    rest_header_timeout_s: float = 10.0
    """Time from a request's first byte to the end of its headers."""
    rest_body_timeout_s: float = 60.0
    """Time to receive each MiB of a request body once the headers are in (the REST
    handler re-arms it per MiB, so large bodies arriving steadily are not cut off)."""
    grpc_max_connections: int = 4096
    """Open gRPC connections at most (grpc.max_allowed_incoming_connections). grpcio has no
    per-client cap, so this is set far above what clients need: at 256, one client's 256
    idle channels locked every other gRPC client out until the idle timeout."""
    grpc_max_concurrent_rpcs: int = 256
    """gRPC calls in progress or queued at most; more get RESOURCE_EXHAUSTED."""
    grpc_idle_timeout_s: float = 60.0
    """An idle gRPC connection is closed (GOAWAY) after this long (clients reconnect)."""
    grpc_handshake_timeout_s: float = 5.0
    """A new gRPC connection must finish its HTTP/2 handshake within this time."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) <= 0:
                raise ValueError(
                    f"ConnectionLimits.{field.name} must be > 0, got {getattr(self, field.name)}"
                )


def exhausted(message: str) -> ServingError:
    """RESOURCE_EXHAUSTED (HTTP 429): a request over a configured cap."""
    return ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


class RequestBudget:
    """Elements and decoded bytes one request has declared so far, against its limits."""

    def __init__(self, limits: RequestLimits) -> None:
        self.limits = limits
        self.elements = 0
        self.bytes = 0
        self.images = 0

    def add_tensor(self, alias: str, shape: list[int] | tuple[int, ...], item_bytes: int) -> int:
        """Counts one input of `shape`; returns its element count. Raises over a cap."""
        if any(d < 0 for d in shape):
            raise invalid(f"input '{alias}': shape {list(shape)} has a negative dimension")
        if shape and shape[0] > self.limits.max_batch_rows:
            raise exhausted(
                f"input '{alias}' has {shape[0]} rows, above the limit of "
                f"{self.limits.max_batch_rows} (--max-batch-rows)"
            )
        size = math.prod(shape)
        self.elements += size
        if self.elements > self.limits.max_tensor_elements:
            raise exhausted(
                f"input '{alias}' of shape {list(shape)} brings the request to {self.elements} "
                f"values, above the limit of {self.limits.max_tensor_elements} "
                "(--max-tensor-elements)"
            )
        self.add_bytes(alias, size * item_bytes)
        return size

    def add_bytes(self, alias: str, nbytes: int) -> None:
        """Counts decoded bytes of one input. Raises over --max-decoded-mb."""
        self.bytes += nbytes
        if self.bytes > self.limits.max_decoded_bytes:
            raise exhausted(
                f"input '{alias}' brings the request to {self.bytes} decoded bytes, above the "
                f"limit of {self.limits.max_decoded_bytes} (--max-decoded-mb)"
            )

    def add_image(self, where: str) -> None:
        """Counts one encoded image. Raises over --max-images."""
        self.images += 1
        if self.images > self.limits.max_images:
            raise exhausted(
                f"{where}: the request holds more than {self.limits.max_images} images "
                "(--max-images); each is decoded and run at the model's full input size "
                "however small it is sent: split the request"
            )

    def check_rows(self, what: str, rows: int) -> None:
        """A row or example count against --max-batch-rows."""
        if rows > self.limits.max_batch_rows:
            raise exhausted(
                f"{what} has {rows} rows, above the limit of {self.limits.max_batch_rows} "
                "(--max-batch-rows)"
            )
