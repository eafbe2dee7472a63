"""Prometheus metrics with TF Serving's names, label sets, units and buckets.

Values are kept by `prometheus_client` in a registry of the server's own; the page
is written the way TF Serving's `PrometheusExporter` writes it (metric names are
the TensorFlow monitoring names with "/" turned into ":", counters without a
`_total` suffix, no `_created` series, bucket bounds and sums in microseconds).
Each family is one row of `FAMILIES`, with the name, help, labels and buckets of
its TF Serving definition (servables/tensorflow/util.cc, batching/batching_util.h,
batching/batching_session.cc, saved_model_warmup_util.cc, TensorFlow's loader,
core/request_logger.cc).
"""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry, Counter, Histogram


def exponential_buckets(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """monitoring::Buckets::Exponential(scale, growth, count): scale * growth**i bounds."""
    return tuple(float(f"{scale * growth**i:.6g}") for i in range(count))


# Exponential(10, 1.8, 33): 10 us up to ~20 minutes.
LATENCY_BUCKETS_US = exponential_buckets(10, 1.8, 33)
DEFAULT_PATH = "/monitoring/prometheus/metrics"

REQUEST_COUNT = "/tensorflow/serving/request_count"
REQUEST_LATENCY = "/tensorflow/serving/request_latency"
RUNTIME_LATENCY = "/tensorflow/serving/runtime_latency"
EXAMPLE_COUNTS = "/tensorflow/serving/request_example_counts"
EXAMPLE_COUNT_TOTAL = "/tensorflow/serving/request_example_count_total"
LOAD_ATTEMPT_COUNT = "/tensorflow/cc/saved_model/load_attempt_count"
LOAD_LATENCY = "/tensorflow/cc/saved_model/load_latency"
WARMUP_LATENCY = "/tensorflow/serving/model_warmup_latency"
WARMUP_RECORDS = "/tensorflow/serving/model_warmup_records_read"
WRAPPED_RUNS = "/tensorflow/serving/batching_session/wrapped_run_count"
QUEUING_LATENCY = "/tensorflow/serving/batching_session/queuing_latency"
INPUT_BATCH_SIZE = "/tensorflow/serving/batching_session/input_batch_size"
PROCESSED_BATCH_SIZE = "/tensorflow/serving/batching_session/processed_batch_size"
PADDING_SIZE = "/tensorflow/serving/batching_session/padding_size"
REQUEST_LOG_COUNT = "/tensorflow/serving/request_log_count"
RUNTIME = "TF1"
"""TF Serving's `runtime` label for its SavedModel session runtime (the other is TFRT)."""


@dataclasses.dataclass(frozen=True)
class Family:
    """One TF Serving metric: a counter, or a histogram (a Sampler) when it has buckets."""

    name: str
    help: str
    labels: tuple[str, ...]
    """Label names in the order TF Serving declares (and prints) them."""
    buckets: tuple[float, ...] = ()


FAMILIES = (
    Family(REQUEST_COUNT, "The total number of requests.", ("model_name", "status")),
    Family(
        REQUEST_LATENCY,
        "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
        ("model_name", "API", "entrypoint"),
        LATENCY_BUCKETS_US,
    ),
    Family(
        RUNTIME_LATENCY,
        "Distribution of wall time (in microseconds) for Tensorflow runtime.",
        ("model_name", "API", "runtime"),
        LATENCY_BUCKETS_US,
    ),
    Family(
        EXAMPLE_COUNTS,
        "The number of tensorflow.Examples per request.",
        ("model",),
        exponential_buckets(1, 2, 15),
    ),
    Family(EXAMPLE_COUNT_TOTAL, "The total number of tensorflow.Examples.", ("model",)),
    Family(
        LOAD_ATTEMPT_COUNT,
        "The number of times a SavedModel was successfully loaded.",
        ("model_path", "status"),
    ),
    Family(
        LOAD_LATENCY,
        "Latency in microseconds for SavedModels that were successfully loaded.",
        ("model_path",),
    ),
    Family(
        WARMUP_LATENCY,
        "Distribution of wall time (in microseconds) for warming up the model.",
        ("model_path", "status"),
        LATENCY_BUCKETS_US,
    ),
    Family(
        WARMUP_RECORDS,
        "Total number of warmup records read during model warmup.",
        ("model_path", "status"),
    ),
    Family(WRAPPED_RUNS, "Total count of run calls on the wrapped session", ()),
    Family(
        QUEUING_LATENCY,
        "Distribution of wall time spent (in microseconds) in queuing",
        ("thread_pool_name",),
        exponential_buckets(100, 1.2, 52),
    ),
    Family(
        INPUT_BATCH_SIZE,
        "Tracks the batch size distribution on the inputs.",
        (),
        exponential_buckets(1, 2, 14),
    ),
    Family(
        PROCESSED_BATCH_SIZE,
        "Tracks the batch size distribution on processing.",
        (),
        exponential_buckets(1, 2, 14),
    ),
    Family(
        PADDING_SIZE,
        "Tracks the padding size distribution on batches.",
        ("execution_batch_size",),
        exponential_buckets(1, 2, 14),
    ),
    Family(
        REQUEST_LOG_COUNT,
        "The total number of requests logged from the model server sliced "
        "down by model_name and status code.",
        ("model_name", "status_code"),
    ),
)
LABELS = {f.name: f.labels for f in FAMILIES}


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
        self._m: dict[str, Counter | Histogram] = {}
        for f in FAMILIES:
            name = prometheus_name(f.name)
            if f.buckets:
                metric = Histogram(
                    name, f.help, f.labels, buckets=f.buckets, registry=self.registry
                )
            else:
                metric = Counter(name, f.help, f.labels, registry=self.registry)
            self._m[f.name] = metric

    def _get(self, name: str, *labels: str):
        metric = self._m[name]
        return metric.labels(*labels) if labels else metric

    def record_request(
        self, model: str, api: str, entrypoint: str, status: str, micros: float
    ) -> None:
        """Counts a request (any status); successful ones also go into the latency histogram."""
        self._get(REQUEST_COUNT, model, status).inc()
        if status == "OK":
            self._get(REQUEST_LATENCY, model, api, entrypoint).observe(micros)

    def record_runtime(self, model: str, api: str, micros: float) -> None:
        """Time spent running the model for one Predict/Classify/Regress/MultiInference."""
        self._get(RUNTIME_LATENCY, model, api, RUNTIME).observe(micros)

    def record_examples(self, model: str, count: int) -> None:
        """tf.Examples of one request (TF Serving counts them for MultiInference)."""
        self._get(EXAMPLE_COUNTS, model).observe(count)
        self._get(EXAMPLE_COUNT_TOTAL, model).inc(count)

    def record_load(self, model_path: str, ok: bool, micros: float) -> None:
        """One SavedModel load attempt, as TensorFlow's loader counts it."""
        self._get(LOAD_ATTEMPT_COUNT, model_path, "success" if ok else "fail").inc()
        if ok:
            self._get(LOAD_LATENCY, model_path).inc(int(micros))

    def record_warmup(self, model_path: str, status: str, records: int, micros: float) -> None:
        """A warmup replay (status "OK" or the error code name)."""
        self._get(WARMUP_LATENCY, model_path, status).observe(micros)
        self._get(WARMUP_RECORDS, model_path, status).inc(records)

    def record_batch(
        self, pool: str, queued_s: list[float], input_rows: list[int], size: int
    ) -> None:
        """One batched call: each request's time queued and rows, the size it ran at."""
        self._get(WRAPPED_RUNS).inc()
        for seconds, rows in zip(queued_s, input_rows, strict=True):
            self._get(QUEUING_LATENCY, pool).observe(seconds * 1e6)
            self._get(INPUT_BATCH_SIZE).observe(rows)
        self._get(PROCESSED_BATCH_SIZE).observe(size)
        self._get(PADDING_SIZE, str(size)).observe(size - sum(input_rows))

    def record_request_log(self, model: str, status_code: str, count: int = 1) -> None:
        """Sampled requests: logged ("OK") or dropped (the error code name)."""
        self._get(REQUEST_LOG_COUNT, model, status_code).inc(count)

    def render(self) -> str:
        """The Prometheus page, line for line in TF Serving's format."""
        lines: list[str] = []
        for family in self.registry.collect():
            samples = [s for s in family.samples if not s.name.endswith("_created")]
            if not any(s.labels.keys() - {"le"} or s.value for s in samples):
                continue  # an unlabelled metric nothing recorded: TF Serving has no cell yet
            # prometheus_client drops a counter's "_total" from the family name and adds
            # it to every sample; TF Serving prints the name as declared, suffix or not.
            declared = _DECLARED[family.name]
            lines.append(f"# TYPE {declared.name} {family.type}")
            for s in samples:
                name = declared.name if family.type == "counter" else s.name
                names = declared.labels + ("le",)
                items = sorted(s.labels.items(), key=lambda kv: names.index(kv[0]))
                labels = ",".join(
                    f'{k}="{_escape(v if k != "le" or v == "+Inf" else _number(float(v)))}"'
                    for k, v in items
                )
                value = _number(s.value) if name.endswith("_sum") else str(int(s.value))
                lines.append(f"{name}{{{labels}}} {value}")
        return "\n".join(lines) + "\n"


def _family_key(f: Family) -> str:
    """The family name prometheus_client reports for `f`."""
    name = prometheus_name(f.name)
    return name[: -len("_total")] if not f.buckets and name.endswith("_total") else name


_DECLARED = {
    _family_key(f): Family(prometheus_name(f.name), f.help, f.labels, f.buckets) for f in FAMILIES
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
