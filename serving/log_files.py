"""Reading the request logs back: the published PredictionLog files of a time window.

Files are named `<prefix>.<start ms>.<pid>-<seq>.tfrecord` by serving/request_log.py
and published (renamed into view) when closed, so a file covers the time from the
start in its name to its modification time. A file that is truncated or corrupt
(copied half-way, damaged on disk) is skipped and counted, never fatal.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import prediction_log_pb2

from models import tfdata
from serving.request_log_file import published_files, start_ms

log = logging.getLogger(__name__)
_BATCH = 1024
"""Records read per tf.data step (one step per record would cost more than the parse)."""


@dataclasses.dataclass
class LoggedTraffic:
    """What a window of request logs held."""

    logs: list[prediction_log_pb2.PredictionLog]
    files_read: int = 0
    files_skipped: list[str] = dataclasses.field(default_factory=list)
    """Truncated or corrupt files (none of their records are used)."""


def in_window(path: str, since_s: float, until_s: float) -> bool:
    """Whether the file at `path` holds requests logged between the two epoch times."""
    return start_ms(path) / 1000 <= until_s and os.path.getmtime(path) >= since_s


def read_logged_traffic(prefix: str, since_s: float, until_s: float) -> LoggedTraffic:
    """The PredictionLogs of `prefix` published files overlapping [since_s, until_s]."""
    traffic = LoggedTraffic([])
    for path in published_files(prefix):
        if not in_window(path, since_s, until_s):
            continue
        try:
            logs = [
                prediction_log_pb2.PredictionLog.FromString(raw)
                for batch in tfdata.tfrecords(path).batch(_BATCH).as_numpy_iterator()
                for raw in batch
            ]
        except (tf.errors.DataLossError, DecodeError) as e:
            log.warning("%s: skipped, truncated or corrupt (%s)", path, str(e).splitlines()[0])
            traffic.files_skipped.append(path)
            continue
        traffic.logs.extend(logs)
        traffic.files_read += 1
    return traffic
