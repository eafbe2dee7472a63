"""Request counts and latency histograms in Prometheus text format.

Metric names follow TF Serving's (`:tensorflow:serving:request_count`,
`:tensorflow:serving:request_latency`), labelled by model, version, API and
entrypoint (GRPC or REST).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

# Seconds; the same spread TF Serving's latency histogram covers, coarser.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COUNT = ":tensorflow:serving:request_count"
LATENCY = ":tensorflow:serving:request_latency"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


class Metrics:
    """Thread-safe counters and histograms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple, int] = defaultdict(int)
        self._buckets: dict[tuple, list[int]] = {}
        self._sums: dict[tuple, float] = defaultdict(float)

    def record(
        self, model: str, version: str, api: str, entrypoint: str, status: str, seconds: float
    ) -> None:
        """Counts one request and, for successful ones, its latency."""
        base = (("model_name", model), ("model_version", version), ("API", api))
        with self._lock:
            self._counts[base + (("entrypoint", entrypoint), ("status", status))] += 1
            if status == "OK":
                key = base + (("entrypoint", entrypoint),)
                buckets = self._buckets.setdefault(key, [0] * (len(LATENCY_BUCKETS) + 1))
                buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
                self._sums[key] += seconds

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        lines = [
            f"# HELP {COUNT} Requests by model, version, API and status.",
            f"# TYPE {COUNT} counter",
        ]
        with self._lock:
            for key, n in sorted(self._counts.items()):
                lines.append(f"{COUNT}{_labels(key)} {n}")
            lines += [
                f"# HELP {LATENCY} Latency of successful requests in seconds.",
                f"# TYPE {LATENCY} histogram",
            ]
            for key, buckets in sorted(self._buckets.items()):
                running = 0
                for bound, n in zip(LATENCY_BUCKETS + (float("inf"),), buckets, strict=True):
                    running += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(f"{LATENCY}_bucket{_labels(key + (('le', le),))} {running}")
                lines.append(f"{LATENCY}_sum{_labels(key)} {self._sums[key]:.6f}")
                lines.append(f"{LATENCY}_count{_labels(key)} {running}")
        return "\n".join(lines) + "\n"
