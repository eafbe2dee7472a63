"""What request logging costs: throughput and p50 with sampling_rate 1.0 vs logging off.

One server (`vrl serve` in a subprocess, configured by a TF Serving model config
file) serves the same SavedModel three times: "off" and "off_too" without a
logging_config and "on" with `sampling_rate: 1.0`. Each round runs all three
arms back to back, in an order that rotates from round to round (off, on,
off_too / on, off_too, off / off_too, off, on), so load on a shared machine
drifts over all arms alike. Each arm of a round sends --requests single-image
gRPC Predicts from --concurrency client threads. After the "on" arm the bench
waits (untimed) until the server's `request_log_count` shows every record
written, so the writer's tail never falls into another arm's round; the counts by
status are printed at the end (every request logged, none dropped).

A ratio is taken within a round (on/off, and the A/A control off_too/off, which
differ only by chance); the median over rounds is printed with its 95% bootstrap
interval and the rounds' interquartile range. The A/A line shows what the
machine's noise alone makes of two identical arms: its interval must hold 1.0 and
be narrower than the difference to be resolved (5%), else run more rounds.

  TF_USE_LEGACY_KERAS=1 python bench/request_log_overhead.py [--rounds 120] [--requests 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from serving_latency import IMAGE_SIZE, BenchCnn  # the same stand-in CNN, same folder
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

ARMS = ("off", "on", "off_too")
"""The arms in rotation order; "on" logs every request, the other two are the A/A pair."""


def _write_models(root: str, rate: float) -> str:
    """The three models, and the model config file logging model "on"; returns its path."""
    module = BenchCnn()
    for name in ARMS:
        tf.saved_model.save(
            module, os.path.join(root, name, "1"), signatures={"serving_default": module.serve}
        )
    prefix = os.path.join(root, "logs", "on")
    logging = (
        f'logging_config {{ log_collector_config {{ type: "tfrecord" filename_prefix: "{prefix}" }}'
        f" sampling_config {{ sampling_rate: {rate} }} }}"
    )
    entries = [
        f'config {{ name: "{name}" base_path: "{root}/{name}" {logging if name == "on" else ""} }}'
        for name in ARMS
    ]
    config = os.path.join(root, "models.config")
    with open(config, "w", encoding="utf-8") as f:
        f.write("model_config_list { " + " ".join(entries) + " }\n")
    return config


def _serve(config: str) -> tuple[subprocess.Popen, str, str]:
    """Starts `vrl serve`; returns the process, its gRPC target and its metrics URL."""
    cmd = [sys.executable, "-m", "vrl.serve", "serve", "--model-config", config]
    cmd += ["--grpc-port", "0", "--rest-port", "0"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    line = proc.stdout.readline()
    if not line.startswith("serving"):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    rest = line.split("REST ")[1].split(" ")[0]
    return proc, line.split("gRPC ")[1].split(",")[0], f"{rest}/monitoring/prometheus/metrics"


def _log_counts(metrics_url: str, model: str) -> dict[str, int]:
    """`request_log_count` of `model` by status: the records its writer has finished with."""
    page = urllib.request.urlopen(metrics_url, timeout=30).read().decode()
    key = f':tensorflow:serving:request_log_count{{model_name="{model}",status_code="'
    return {
        line[len(key) :].split('"')[0]: int(float(line.split()[-1]))
        for line in page.splitlines()
        if line.startswith(key)
    }


class Client:
    """`conc` client threads, one channel each, opened once for every round (a round
    then measures serving, not connection set-up)."""

    def __init__(self, target: str, images: list[bytes], conc: int) -> None:
        self.conc = conc
        self.channels = [grpc.insecure_channel(target) for _ in range(conc)]
        self.stubs = [prediction_service_pb2_grpc.PredictionServiceStub(c) for c in self.channels]
        self.pool = futures.ThreadPoolExecutor(conc)
        self.requests: dict[str, list[predict_pb2.PredictRequest]] = {}
        for arm in ARMS:
            self.requests[arm] = []
            for image in images:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = arm
                request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image]))
                self.requests[arm].append(request)

    def round(self, arm: str, n: int) -> tuple[float, float]:
        """(p50 ms, req/s) of `n` Predicts to model `arm` from all threads at once."""
        requests = self.requests[arm]

        def client(i: int) -> list[float]:
            times = []
            for j in range(i, n, self.conc):
                start = time.perf_counter()
                self.stubs[i].Predict(requests[j % len(requests)], 60.0)
                times.append(time.perf_counter() - start)
            return times

        start = time.perf_counter()
        latencies = [t for ts in self.pool.map(client, range(self.conc)) for t in ts]
        wall = time.perf_counter() - start
        return statistics.median(latencies) * 1000, n / wall

    def close(self) -> None:
        self.pool.shutdown()
        for channel in self.channels:
            channel.close()


def _median_ci(values: list[float], rng: np.random.Generator) -> str:
    """Median of per-round ratios, its 95% bootstrap interval, and the rounds' IQR."""
    values = np.asarray(values)
    boot = np.median(rng.choice(values, (2000, len(values))), axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    q1, q3 = np.percentile(values, [25, 75])
    return f"x{np.median(values):.3f} (95% CI {low:.3f}-{high:.3f}; IQR {q1:.2f}-{q3:.2f})"


def _report(rows: dict[str, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    print(f"{'arm':<9}{'p50 ms':>9}{'req/s':>9}   (medians over rounds)")
    for arm in ARMS:
        p50s, rates = zip(*rows[arm], strict=True)
        print(f"{arm:<9}{statistics.median(p50s):>9.2f}{statistics.median(rates):>9.1f}")
    print(
        f"per-round ratios to 'off', {args.rounds} rounds x {args.requests} requests per arm, "
        f"concurrency {args.concurrency}:"
    )
    rng = np.random.default_rng(0)
    for label, arm in (("on/off  (logging)", "on"), ("off_too/off (A/A)", "off_too")):
        p50 = [a[0] / b[0] for a, b in zip(rows[arm], rows["off"], strict=True)]
        rate = [a[1] / b[1] for a, b in zip(rows[arm], rows["off"], strict=True)]
        print(f"  {label}  p50   {_median_ci(p50, rng)}")
        print(f"  {'':<17}  req/s {_median_ci(rate, rng)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="Predicts per arm per round")
    parser.add_argument("--rounds", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=1.0, help="sampling_rate of arm 'on'")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = [
        tf.io.encode_png(rng.integers(0, 255, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)).numpy()
        for _ in range(16)
    ]
    rows: dict[str, list[tuple[float, float]]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as root:
        proc, target, metrics_url = _serve(_write_models(root, args.rate))
        sent = 0  # Predicts sent to "on" so far

        def drained() -> None:  # every record of "on" written (or dropped and counted)
            while args.rate == 1.0 and sum(_log_counts(metrics_url, "on").values()) < sent:
                time.sleep(0.002)

        client = Client(target, images, args.concurrency)
        try:
            for arm in ARMS:  # warm every arm (first calls trace and allocate)
                client.round(arm, 4 * args.concurrency)
            sent = 4 * args.concurrency
            drained()
            for i in range(args.rounds):
                for arm in ARMS[i % 3 :] + ARMS[: i % 3]:
                    rows[arm].append(client.round(arm, args.requests))
                    if arm == "on":
                        # Untimed: its last records written before the next arm starts,
                        # so the writer never runs inside another arm's round.
                        sent += args.requests
                        drained()
            counts = _log_counts(metrics_url, "on")
        finally:
            client.close()
            proc.terminate()
            proc.wait()
    _report(rows, args)
    print(f"request_log_count of 'on' by status: {counts} ({sent} Predicts sent to it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
