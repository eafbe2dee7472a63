"""Bounds of request logging and their `vrl serve` flags (no TensorFlow import).

The defaults live in `RequestLogLimits`; each flag is derived from a field (its
docstring is the help), so `vrl serve --help` and serving/request_log.py agree.
"""

from __future__ import annotations

import argparse
import dataclasses

MIB = 1 << 20


@dataclasses.dataclass(frozen=True)
class RequestLogLimits:
    """Bounds of request logging (the same for every model with a logging_config)."""

    queue_records: int = 1024
    """Records waiting for the writer at most; more are dropped and counted."""
    max_file_bytes: int = 64 * MIB
    """A file is published (and a new one started) once it reaches this size."""
    max_file_age_s: float = 60.0
    """A file is published at this age even when traffic is slow."""
    max_folder_bytes: int = 1024 * MIB
    """Published files of a log folder beyond this total are deleted, oldest first."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) <= 0:
                raise ValueError(f"--request-log-{_flag(field.name)} must be > 0")


def _flag(field: str) -> str:
    return field.replace("_", "-")


_HELP = {
    "queue_records": "records queued for the request log writer at most (more: dropped, counted)",
    "max_file_bytes": "request log file size at which it is published and a new one started",
    "max_file_age_s": "seconds after which an open request log file is published",
    "max_folder_bytes": "total size of a request log folder (oldest files deleted past it)",
}


def add_request_log_arguments(parser: argparse.ArgumentParser) -> None:
    """`--request-log-<field>` for each RequestLogLimits field, in their own help group."""
    defaults = RequestLogLimits()
    group = parser.add_argument_group("request logging (models with a logging_config)")
    for field in dataclasses.fields(RequestLogLimits):
        kind = float if field.type in (float, "float") else int
        group.add_argument(
            f"--request-log-{_flag(field.name)}",
            type=kind,
            default=getattr(defaults, field.name),
            help=_HELP[field.name],
        )


def request_log_limits_from_args(args: argparse.Namespace) -> RequestLogLimits:
    """RequestLogLimits from parsed flags; ValueError names a bad flag."""
    return RequestLogLimits(
        **{
            f.name: getattr(args, f"request_log_{f.name}")
            for f in dataclasses.fields(RequestLogLimits)
        }
    )
