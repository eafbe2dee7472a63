"""`vrl serve` flags for request caps and connection hygiene (the project's own).

Each flag is one row below: its dataclass field in serving/limits.py (where the
default lives), the unit it is given in on the command line, and its help. The
parser and the mapping back to the dataclasses are both derived from the rows.
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses

from serving.limits import MIB, ConnectionLimits, RequestLimits


@dataclasses.dataclass(frozen=True)
class _Flag:
    name: str
    """Command-line spelling."""
    field: str
    """Field of RequestLimits or ConnectionLimits it sets (default read from there)."""
    help: str
    scale: int = 1
    """Field value = flag value x scale (MiB flags set byte fields)."""


_REQUEST_FLAGS = (
    _Flag(
        "--max-tensor-elements",
        "max_tensor_elements",
        "most values over all inputs of one request, by declared shape",
    ),
    _Flag(
        "--max-batch-rows",
        "max_batch_rows",
        "most rows in one input, or examples in one Classify/Regress",
    ),
    _Flag(
        "--max-decoded-mb",
        "max_decoded_bytes",
        "most decoded bytes of one request's inputs (images counted from their header)",
        MIB,
    ),
    _Flag(
        "--max-images",
        "max_images",
        "most encoded images in one request (each runs at the model's full input size)",
    ),
    _Flag(
        "--max-rest-body-mb",
        "max_rest_body_bytes",
        "largest REST body (JSON takes up to ~20x its size in memory once parsed)",
        MIB,
    ),
    _Flag(
        "--max-json-depth",
        "max_json_depth",
        "deepest JSON nesting of a REST body (deeper: HTTP 400)",
    ),
    _Flag(
        "--max-image-side",
        "max_image_side",
        "largest width/height of an image input (unset: ImageExampleGen's ingest limit)",
    ),
    _Flag(
        "--max-image-pixels",
        "max_image_pixels",
        "most pixels of an image input (unset: ImageExampleGen's ingest limit)",
    ),
)
_CONNECTION_FLAGS = (
    _Flag(
        "--rest-max-connections",
        "rest_max_connections",
        "open REST connections (and REST worker threads) at most; a new one closes the "
        "oldest idle connection, or gets 503 when none is idle",
    ),
    _Flag(
        "--rest-max-connections-per-peer",
        "rest_max_connections_per_peer",
        "open REST connections from one client address at most (over it: that client's "
        "oldest idle connection is closed, or 503)",
    ),
    _Flag(
        "--rest-idle-timeout",
        "rest_idle_timeout_s",
        "seconds a keep-alive REST connection may wait for its next request",
    ),
    _Flag(
        "--rest-header-timeout",
        "rest_header_timeout_s",
        "seconds from a request's first byte to the end of its headers (then 408)",
    ),
    _Flag(
        "--rest-body-timeout",
        "rest_body_timeout_s",
        "seconds to receive each MiB of a request body (then 408)",
    ),
    _Flag(
        "--grpc-max-connections",
        "grpc_max_connections",
        "open gRPC connections at most (more are closed before the handshake)",
    ),
    _Flag(
        "--grpc-max-concurrent-rpcs",
        "grpc_max_concurrent_rpcs",
        "gRPC calls in progress or queued at most; more get RESOURCE_EXHAUSTED",
    ),
    _Flag(
        "--grpc-idle-timeout",
        "grpc_idle_timeout_s",
        "seconds before an idle gRPC connection is closed (clients reconnect)",
    ),
    _Flag(
        "--grpc-handshake-timeout",
        "grpc_handshake_timeout_s",
        "seconds a new gRPC connection has to finish its handshake",
    ),
)


def _add(group, flags: tuple[_Flag, ...], defaults) -> None:
    types = {f.name: f.type for f in dataclasses.fields(defaults)}
    for flag in flags:
        default = getattr(defaults, flag.field)
        # Optional fields (None: no cap of our own) are ints; scaled fields become floats.
        kind = float if flag.scale != 1 or "float" in str(types[flag.field]) else int
        group.add_argument(
            flag.name,
            type=kind,
            default=default if default is None or flag.scale == 1 else default / flag.scale,
            help=flag.help,
        )


def _values(args: argparse.Namespace, flags: tuple[_Flag, ...]) -> dict:
    out = {}
    for flag in flags:
        value = getattr(args, flag.name.lstrip("-").replace("-", "_"))
        out[flag.field] = value if value is None or flag.scale == 1 else int(value * flag.scale)
    return out


def add_limit_arguments(serve: argparse.ArgumentParser) -> None:
    """Request caps and connection hygiene; defaults come from serving/limits.py."""
    caps = serve.add_argument_group(
        "request limits (checked before allocation; over a cap: RESOURCE_EXHAUSTED / HTTP 429)"
    )
    _add(caps, _REQUEST_FLAGS, RequestLimits())
    _add(serve.add_argument_group("connections"), _CONNECTION_FLAGS, ConnectionLimits())


_PORT_FLAGS = (
    ("--grpc-port", "grpc_port"),
    ("--rest-port", "rest_port"),
    ("--port", "port"),
    ("--rest_api_port", "rest_api_port"),
)


def check_ports(args: argparse.Namespace) -> None:
    """Port numbers in range, before anything loads: a socket bind raised OverflowError
    for -1 and gRPC silently took 70000 modulo 65536 (port 4464)."""
    for flag, dest in _PORT_FLAGS:
        value = getattr(args, dest, None)
        if value is not None and not 0 <= value <= 65535:
            raise ValueError(f"{flag} {value}: a port number is between 0 and 65535")


def limits_from_args(args: argparse.Namespace) -> tuple[RequestLimits, ConnectionLimits]:
    """The limit dataclasses from parsed flags, after `check_ports` (the connection
    flags' own front ends); ValueError names a bad value."""
    check_ports(args)
    return (
        RequestLimits(**_values(args, _REQUEST_FLAGS)),
        ConnectionLimits(**_values(args, _CONNECTION_FLAGS)),
    )
