"""Prometheus metrics with TF Serving's names, label sets, units and buckets.

Values are kept by `prometheus_client` in a registry of the server's own; the page
is written the way TF Serving's `PrometheusExporter` writes it (metric names are
the TensorFlow monitoring names with "/" turned into ":", counters without a
`_total` suffix, no `_created` series, bucket bounds and sums in microseconds).

  :tensorflow:serving:request_count{model_name,status}                counter
  :tensorflow:serving:request_latency{model_name,API,entrypoint}      histogram, us
  :tensorflow:cc:saved_model:load_attempt_count{model_path,status}    counter
  :tensorflow:cc:saved_model:load_latency{model_path}                 counter, us
  :tensorflow:serving:model_warmup_latency{model_path,status}         histogram, us
  :tensorflow:serving:model_warmup_records_read{model_path,status}    counter
  :tensorflow:serving:batching_session:wrapped_run_count              counter
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# monitoring::Buckets::Exponential(10, 1.8, 33): 10 us up to ~20 minutes.
LATENCY_BUCKETS_US = tuple(float(f"{10 * 1.8**i:.6g}") for i in range(33))
DEFAULT_PATH = "/monitoring/prometheus/metrics"

REQUEST_COUNT = "/tensorflow/serving/request_count"
REQUEST_LATENCY = "/tensorflow/serving/request_latency"
LOAD_ATTEMPT_COUNT = "/tensorflow/cc/saved_model/load_attempt_count"
LOAD_LATENCY = "/tensorflow/cc/saved_model/load_latency"
WARMUP_LATENCY = "/tensorflow/serving/model_warmup_latency"
WARMUP_RECORDS = "/tensorflow/serving/model_warmup_records_read"
WRAPPED_RUNS = "/tensorflow/serving/batching_session/wrapped_run_count"
LABELS = {
    REQUEST_COUNT: ("model_name", "status"),
    REQUEST_LATENCY: ("model_name", "API", "entrypoint"),
    LOAD_ATTEMPT_COUNT: ("model_path", "status"),
    LOAD_LATENCY: ("model_path",),
    WARMUP_LATENCY: ("model_path", "status"),
    WARMUP_RECORDS: ("model_path", "status"),
    WRAPPED_RUNS: (),
}
"""Label names of each metric, in the order TF Serving declares (and prints) them."""


def prometheus_name(name: str) -> str:
    """TF Serving's GetPrometheusMetricName: every character outside [a-zA-Z0-9_] becomes ':'."""
    out = "".join(c if c.isalnum() or c == "_" else ":" for c in name)
    return "_" + out if out[:1].isdigit() else out


def _number(value: float) -> str:
    """absl::StrCat(double): six significant digits, integral values without a point."""
    return f"{value:.6g}"


class Metrics:
    """The server's metrics; thread-safe (prometheus_client locks each child)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(
            prometheus_name(REQUEST_COUNT),
            "The total number of requests.",
            LABELS[REQUEST_COUNT],
            registry=r,
        )
        self._latency = Histogram(
            prometheus_name(REQUEST_LATENCY),
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            LABELS[REQUEST_LATENCY],
            buckets=LATENCY_BUCKETS_US,
            registry=r,
        )
        self._load_attempts = Counter(
            prometheus_name(LOAD_ATTEMPT_COUNT),
            "The number of times a SavedModel was successfully loaded.",
            LABELS[LOAD_ATTEMPT_COUNT],
            registry=r,
        )
        self._load_latency = Counter(
            prometheus_name(LOAD_LATENCY),
            "Latency in microseconds for SavedModels that were successfully loaded.",
            LABELS[LOAD_LATENCY],
            registry=r,
        )
        self._warmup_latency = Histogram(
            prometheus_name(WARMUP_LATENCY),
            "Distribution of wall time (in microseconds) for warming up the model.",
            LABELS[WARMUP_LATENCY],
            buckets=LATENCY_BUCKETS_US,
            registry=r,
        )
        self._warmup_records = Counter(
            prometheus_name(WARMUP_RECORDS),
            "Total number of warmup records read during model warmup.",
            LABELS[WARMUP_RECORDS],
            registry=r,
        )
        self._wrapped_runs = Counter(
            prometheus_name(WRAPPED_RUNS),
            "Total count of run calls on the wrapped session",
            registry=r,
        )

    def record_request(
        self, model: str, api: str, entrypoint: str, status: str, micros: float
    ) -> None:
        """Counts a request (any status); successful ones also go into the latency histogram."""
        self._requests.labels(model, status).inc()
        if status == "OK":
            self._latency.labels(model, api, entrypoint).observe(micros)

    def record_load(self, model_path: str, ok: bool, micros: float) -> None:
        """One SavedModel load attempt, as TensorFlow's loader counts it."""
        self._load_attempts.labels(model_path, "success" if ok else "fail").inc()
        if ok:
            self._load_latency.labels(model_path).inc(int(micros))

    def record_warmup(self, model_path: str, status: str, records: int, micros: float) -> None:
        """A warmup replay (status "OK" or the error code name)."""
        self._warmup_latency.labels(model_path, status).observe(micros)
        self._warmup_records.labels(model_path, status).inc(records)

    def record_batched_run(self) -> None:
        """One call on the model made by the batcher."""
        self._wrapped_runs.inc()

    def render(self) -> str:
        """The Prometheus page, line for line in TF Serving's format."""
        registry = self.registry
        lines: list[str] = []
        order = {prometheus_name(k): v + ("le",) for k, v in LABELS.items()}
        for family in registry.collect():
            samples = [s for s in family.samples if not s.name.endswith("_created")]
            if not samples:
                continue
            lines.append(f"# TYPE {family.name} {family.type}")
            for s in samples:
                name = s.name
                if family.type == "counter" and name.endswith("_total"):
                    name = name[: -len("_total")]
                names = order.get(family.name, ())
                # TF Serving prints labels in their declared order.
                items = sorted(s.labels.items(), key=lambda kv: names.index(kv[0]))
                labels = ",".join(
                    f'{k}="{_escape(v if k != "le" or v == "+Inf" else _number(float(v)))}"'
                    for k, v in items
                )
                value = _number(s.value) if name.endswith("_sum") else str(int(s.value))
                lines.append(f"{name}{{{labels}}} {value}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
