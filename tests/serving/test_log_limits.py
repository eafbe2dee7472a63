"""What clients can make the server log is bounded (serving/log_limits.py)."""

from __future__ import annotations

import logging

from serving.log_limits import RepeatLimit


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _logger(name: str, limit: RepeatLimit) -> tuple[logging.Logger, _Lines]:
    logger = logging.getLogger(name)
    logger.propagate = False
    handler = _Lines()
    logger.handlers = [handler]
    logger.filters = [limit]
    return logger, handler


def test_grpcio_deserialization_failures_are_one_line_each_and_at_most_a_burst():
    logger, handler = _logger("test_log_limits.grpc", RepeatLimit(burst=3, window_s=3600))
    for _ in range(20_000):
        try:
            raise ValueError("Error parsing message")
        except ValueError:
            logger.exception("Exception deserializing message!")
    assert len(handler.lines) == 3
    assert all("\n" not in line and "Traceback" not in line for line in handler.lines)


def test_the_first_line_after_a_window_counts_what_was_left_out():
    limit = RepeatLimit(burst=2, window_s=0.0)  # every record opens a new window
    logger, handler = _logger("test_log_limits.window", limit)
    limit.window_s = 3600
    for i in range(5):
        logger.warning("bad request from %s", f"peer{i}")
    limit.window_s = 0.0
    logger.warning("bad request from %s", "peer5")
    logger.warning("no arguments, 100% literal")
    assert handler.lines == [
        "bad request from peer0",
        "bad request from peer1",
        "bad request from peer5 (3 more like this were not logged)",
        "no arguments, 100% literal",
    ]
