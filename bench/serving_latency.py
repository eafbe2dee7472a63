"""Serving latency and throughput: gRPC and REST vs an in-process call of the same SavedModel.

Starts `python -m vrl.serve serve` in a subprocess on loopback (once without and
once with server-side batching), sends single-image Predict requests at
concurrency 1, 8 and 32 (one client thread and one connection per concurrent
client, gRPC and REST alike), and prints p50/p99 latency and throughput next to the
same figures for calling the SavedModel's serving_default in this process
(ratio = server / in-process). Request counts are bounded.

  TF_USE_LEGACY_KERAS=1 python bench/serving_latency.py [--requests 400] [--repeats 3]
      [--saved-model DIR]

Without --saved-model a small stand-in CNN for 32x32 images (decode, two conv
layers, softmax; same signature as the pipeline's CNN) is exported first.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from contracts import features
from contracts.warmup import predict_request
from serving.client import RestClient

CONCURRENCY = (1, 8, 32)
IMAGE_SIZE = 32
NUM_CLASSES = 10


class BenchCnn(tf.Module):
    """Decode 32x32 PNG/JPEG -> conv16 -> pool -> conv32 -> global pool -> softmax."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        self.k1 = tf.Variable(rng.normal(0, 0.1, (3, 3, 3, 16)).astype("float32"))
        self.k2 = tf.Variable(rng.normal(0, 0.1, (3, 3, 16, 32)).astype("float32"))
        self.w = tf.Variable(rng.normal(0, 0.1, (32, NUM_CLASSES)).astype("float32"))
        self.labels = tf.constant([f"class_{i}" for i in range(NUM_CLASSES)])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve(self, image_bytes):
        def decode(b):
            image = tf.io.decode_image(b, channels=3, expand_animations=False)
            image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, [IMAGE_SIZE, IMAGE_SIZE])
            return tf.ensure_shape(image, [IMAGE_SIZE, IMAGE_SIZE, 3])

        x = tf.map_fn(decode, image_bytes, fn_output_signature=tf.float32)
        x = tf.nn.relu(tf.nn.conv2d(x, self.k1, 1, "SAME"))
        x = tf.nn.max_pool2d(x, 2, 2, "VALID")
        x = tf.nn.relu(tf.nn.conv2d(x, self.k2, 1, "SAME"))
        probabilities = tf.nn.softmax(tf.reduce_mean(x, axis=[1, 2]) @ self.w)
        class_ids = tf.argmax(probabilities, axis=1)
        return {
            features.OUTPUT_PROBABILITIES: probabilities,
            features.OUTPUT_CLASS_IDS: class_ids,
            features.OUTPUT_LABEL_NAMES: tf.gather(self.labels, class_ids),
        }


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ms = np.asarray(latencies) * 1000.0
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def run_threads(
    call, n: int, concurrency: int, states: list[dict] | None = None
) -> tuple[list[float], float, int]:
    """`n` calls from `concurrency` threads; returns (latencies, wall seconds, errors).

    Thread i passes `states[i]` to `call`, so clients (connections) persist across runs.
    """
    states = states if states is not None else [{} for _ in range(concurrency)]
    latencies: list[float] = []
    errors = [0]
    counter = iter(range(n))
    lock = threading.Lock()

    def worker(state):
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            start = time.perf_counter()
            try:
                call(state)
            except Exception:  # noqa: BLE001 - a benchmark counts failures, it does not stop
                errors[0] += 1
                continue
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    with futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, states[:concurrency]))
    return latencies, time.perf_counter() - start, errors[0]


def grpc_call(target: str, request):
    """A call that sends `request` on the thread's own channel."""
    import grpc

    def call(state: dict) -> None:
        if "stub" not in state:
            channel = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
            state["stub"] = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        state["stub"].Predict(request, timeout=60)

    return call


def rest_call(url: str, body: dict):
    """A call that posts `body` on the thread's own keep-alive connection."""

    def call(state: dict) -> None:
        if "client" not in state:
            state["client"] = RestClient(url)
        state["client"].request("POST", "/v1/models/cnn:predict", body)

    return call


def measure_server(api: str, label: str, call, n: int, rows: list) -> None:
    """Warms up max(CONCURRENCY) connections, then measures each concurrency level."""
    states = [{} for _ in range(max(CONCURRENCY))]
    run_threads(call, 4 * len(states), len(states), states)
    for c in CONCURRENCY:
        lat, wall, err = run_threads(call, n, c, states)
        rows.append((api, label, c, *percentiles(lat), len(lat) / wall, err))
        print(
            f"  {api} batching={label} c={c}: {len(lat) / wall:.0f} req/s, {err} errors", flush=True
        )


def start_server(
    model_base: str,
    batching: bool,
    extra_args: list[str] = (),
    batch_threads: int = 1,
) -> tuple[subprocess.Popen, str, str]:
    """`vrl serve` in a subprocess on free loopback ports; returns (process, gRPC target, REST URL)."""
    cmd = [sys.executable, "-m", "vrl.serve", "serve", "--model-base", model_base]
    cmd += ["--grpc-port", "0", "--rest-port", "0", *extra_args]
    if batching:
        cmd += ["--batching", "--max-batch-size", "32", "--batch-timeout-ms", "2"]
        cmd += ["--batch-threads", str(batch_threads)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    line = proc.stdout.readline()
    if not line.startswith("serving"):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    grpc_target = line.split("gRPC ")[1].split(",")[0]
    rest_url = line.split("REST ")[1].split()[0]
    return proc, grpc_target, rest_url


def mean_batch_size(metrics_text: str) -> float:
    """Requests per batched model call, from the server's Prometheus page.

    Reads TF Serving's batching_session:wrapped_run_count against request_count
    (or the counters of servers before TF Serving's metric names were used).
    """
    runs = requests = 0.0
    old = {}
    for line in metrics_text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(":tensorflow:serving:batching_session:wrapped_run_count"):
            runs += float(value)
        elif name.startswith(":tensorflow:serving:request_count{") and 'status="OK"' in name:
            requests += float(value)
        elif name.startswith(":tensorflow:serving:batching:"):
            old[name.rsplit(":", 1)[1]] = float(value)
    if old:
        return old["batched_request_count"] / max(old["batch_count"], 1)
    return requests / max(runs, 1)


def _median_rows(rows: list[tuple]) -> list[tuple]:
    """Per (api, batching, concurrency): medians of p50, p99, req/s and both ratios; error sum."""
    groups: dict[tuple, list[tuple]] = {}
    for row in rows:
        groups.setdefault(row[:3], []).append(row[3:])
    out = []
    for key, values in groups.items():
        columns = list(zip(*values, strict=True))
        medians = [float(np.median(c)) for c in columns[:-1]]
        out.append((*key, *medians, int(sum(columns[-1])), len(values)))
    return out


def _measure_setup(args, server_args, model_base, fn, batch, grpc_req, body, setup, rows) -> None:
    """In-process baseline right before one server setup, then that server; appends rows
    (api, batching, concurrency, p50, p99, req/s, p50 ratio, req/s ratio, errors)."""
    batching = setup
    n = args.requests
    baseline = {}
    for c in CONCURRENCY:
        lat, wall, _ = run_threads(lambda s: fn(image_bytes=batch), n, c)
        baseline[c] = (*percentiles(lat), len(lat) / wall)
        rows.append(("in-process", "-", c, *baseline[c], 1.0, 1.0, 0))
    proc, grpc_target, rest_url = start_server(
        model_base, batching, server_args, args.batch_threads
    )
    label = "on" if batching else "off"
    measured: list = []
    try:
        measure_server("gRPC", label, grpc_call(grpc_target, grpc_req), n, measured)
        measure_server("REST", label, rest_call(rest_url, body), n, measured)
        if batching:
            text = RestClient(rest_url).request("GET", "/monitoring/prometheus/metrics")
            print(f"  mean batch size with batching {label}: {mean_batch_size(text):.1f} requests")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    for api, lab, c, p50, p99, rps, err in measured:
        b50, _, brps = baseline[c]
        rows.append((api, lab, c, p50, p99, rps, p50 / b50, rps / brps, err))


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    parser.add_argument("--saved-model", help="SavedModel to serve (default: the stand-in CNN)")
    parser.add_argument("--intra-op-threads", type=int, default=1, help="TF intra-op threads")
    parser.add_argument("--inter-op-threads", type=int, default=2, help="TF inter-op threads")
    parser.add_argument(
        "--batch-threads", type=int, default=1, help="server batching threads (--batch-threads)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="rounds over all server setups; the table shows medians over rounds",
    )
    return parser.parse_args()


def _export_model(saved_model: str | None, model_dir: str) -> list[bytes]:
    """The served model in `model_dir` (a copy of `saved_model`, or the stand-in CNN);
    returns eight random 32x32 PNGs to send it."""
    if saved_model:
        shutil.copytree(saved_model, model_dir)
    else:
        module = BenchCnn()
        tf.saved_model.save(module, model_dir, signatures={"serving_default": module.serve})
    rng = np.random.default_rng(0)
    return [
        tf.io.encode_png(rng.integers(0, 255, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)).numpy()
        for _ in range(8)
    ]


def _print_table(rows: list[tuple]) -> None:
    print()
    print(f"{'api':<11}{'batching':>9}{'conc':>6}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}"
          f"{'p50 x':>8}{'req/s x':>9}{'errors':>8}{'runs':>6}")  # fmt: skip
    for api, batching, c, p50, p99, rps, x50, xrps, err, runs in _median_rows(rows):
        print(f"{api:<11}{batching:>9}{c:>6}{p50:>9.2f}{p99:>9.2f}{rps:>8.0f}"
              f"{x50:>8.2f}{xrps:>9.2f}{err:>8}{runs:>6}")  # fmt: skip
    print(
        "x = server / in-process at the same concurrency (single-image calls), the "
        "in-process call measured right before each server; medians over rounds"
    )
    print(json.dumps({"rows": rows}))


def main() -> int:
    args = _parse_args()
    # The same TensorFlow thread pools in this process (baseline) and in the servers.
    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    server_args = [
        f"--tf-intra-op-threads={args.intra_op_threads}",
        f"--tf-inter-op-threads={args.inter_op_threads}",
    ]

    workdir = tempfile.mkdtemp(prefix="serving-bench-")
    try:
        model_dir = os.path.join(workdir, "base", "cnn", "1")
        images = _export_model(args.saved_model, model_dir)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"load average before: {load}; server flags: {' '.join(server_args)}")
        print(
            f"{os.cpu_count()} CPUs; {args.requests} single-image requests per row; "
            f"32x32 PNG ({len(images[0])} bytes)"
        )

        fn = tf.saved_model.load(model_dir).signatures["serving_default"]
        batch = tf.constant(images[:1])
        for _ in range(20):
            fn(image_bytes=batch)
        request = predict_request(
            "cnn",
            features.SERVING_SIGNATURE,
            {features.SERVING_INPUT_KEY: np.array(images[:1], dtype=object)},
        )
        body = {"instances": [{"b64": base64.b64encode(images[0]).decode("ascii")}]}

        # The in-process baseline is measured again right before each server, so a
        # ratio compares two measurements made under the same (shared, noisy) load.
        setups = [False, True]  # batching off, on
        model_base = os.path.dirname(os.path.dirname(model_dir))
        rows: list[tuple] = []
        for round_ in range(args.repeats):
            print(f"round {round_ + 1} of {args.repeats}", flush=True)
            for setup in setups:
                _measure_setup(args, server_args, model_base, fn, batch, request, body, setup, rows)
        _print_table(rows)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
