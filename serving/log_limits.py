"""Bounded logging for what clients can trigger at will.

A bad request must not cost a traceback in the log: grpcio logs every message it
cannot parse as a PredictRequest ("Exception deserializing message!") with a full
traceback, and a fuzzing client sending 20,000 of them wrote 8 MB of log in two
minutes. `limit_request_logs` makes those one line each and lets at most
`burst` lines of any one kind through per `window_s` seconds from the loggers a
request reaches; the next line of that kind after the window says how many were
left out.
"""

from __future__ import annotations

import logging
import threading
import time

# Loggers a request can reach: the front ends, the batcher, and grpcio's own.
REQUEST_LOGGERS = (
    "serving.rest",
    "serving.rest_connections",
    "serving.grpc_service",
    "serving.batching",
    "serving.core",
    "grpc._common",
    "grpc._server",
)
# grpcio's records about a client's bytes, not about the server: one line, no traceback.
_CLIENT_FAULTS = ("Exception deserializing",)
_MAX_KINDS = 1024


class RepeatLimit(logging.Filter):
    """Lets `burst` records of each kind (logger, level, message template) through per
    `window_s` seconds; the first one after a window that dropped some counts them."""

    def __init__(self, burst: int = 10, window_s: float = 60.0) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self._lock = threading.Lock()
        self._kinds: dict[tuple, list] = {}
        """kind -> [window start, records let through, records dropped]"""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record over its kind's burst; strips grpcio's client-fault tracebacks."""
        if isinstance(record.msg, str) and record.msg.startswith(_CLIENT_FAULTS):
            record.exc_info = None
            record.exc_text = None
        kind = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        with self._lock:
            state = self._kinds.get(kind)
            if state is None or now - state[0] >= self.window_s:
                dropped = state[2] if state else 0
                if len(self._kinds) >= _MAX_KINDS:
                    self._kinds.clear()
                state = self._kinds[kind] = [now, 0, 0]
                if dropped:
                    _annotate(record, dropped)
            if state[1] >= self.burst:
                state[2] += 1
                return False
            state[1] += 1
        return True


def _annotate(record: logging.LogRecord, dropped: int) -> None:
    """Appends how many records of its kind were dropped to `record`'s message."""
    note = f" ({dropped} more like this were not logged)"
    if not record.args:
        record.msg = f"{record.msg}{note}"  # no args: the message is not %-formatted
    elif isinstance(record.args, tuple):
        record.msg = f"{record.msg}{note.replace('%', '%%')}"


def limit_request_logs(burst: int = 10, window_s: float = 60.0) -> RepeatLimit:
    """Installs one RepeatLimit on every logger a request can reach (once per process)."""
    for name in REQUEST_LOGGERS:
        for existing in logging.getLogger(name).filters:
            if isinstance(existing, RepeatLimit):
                return existing
    limit = RepeatLimit(burst, window_s)
    for name in REQUEST_LOGGERS:
        logging.getLogger(name).addFilter(limit)
    return limit
