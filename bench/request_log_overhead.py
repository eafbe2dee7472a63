"""What request logging costs: throughput and p50 with sampling_rate 1.0 vs logging off.

One server (`vrl serve` in a subprocess, configured by a TF Serving model config
file) serves the same SavedModel twice: model "off" without a logging_config and
model "on" with `sampling_rate: 1.0`. Rounds alternate between the two (so machine
load drifts hit both alike); each round sends --requests single-image gRPC Predicts
from --concurrency client threads. Prints per arm the median p50 and req/s over
rounds and the ratios on/off.

  TF_USE_LEGACY_KERAS=1 python bench/request_log_overhead.py [--requests 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from serving_latency import IMAGE_SIZE, BenchCnn  # the same stand-in CNN, same folder
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


def _write_models(root: str, rate: float) -> str:
    """Both models, and the model config file logging model "on"; returns its path."""
    module = BenchCnn()
    for name in ("off", "on"):
        tf.saved_model.save(
            module, os.path.join(root, name, "1"), signatures={"serving_default": module.serve}
        )
    prefix = os.path.join(root, "logs", "on")
    config = os.path.join(root, "models.config")
    with open(config, "w", encoding="utf-8") as f:
        f.write(
            f'model_config_list {{ config {{ name: "off" base_path: "{root}/off" }}\n'
            f'config {{ name: "on" base_path: "{root}/on" logging_config {{\n'
            f'  log_collector_config {{ type: "tfrecord" filename_prefix: "{prefix}" }}\n'
            f"  sampling_config {{ sampling_rate: {rate} }} }} }} }}\n"
        )
    return config


def _serve(config: str) -> tuple[subprocess.Popen, str]:
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
    return proc, line.split("gRPC ")[1].split(",")[0]


def _round(target: str, model: str, images: list[bytes], n: int, conc: int) -> tuple[float, float]:
    """(p50 ms, req/s) of `n` Predicts from `conc` threads, one channel each."""
    channels = [grpc.insecure_channel(target) for _ in range(conc)]
    stubs = [prediction_service_pb2_grpc.PredictionServiceStub(c) for c in channels]

    def client(i: int) -> list[float]:
        times = []
        for j in range(i, n, conc):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model
            request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([images[j % len(images)]]))
            start = time.perf_counter()
            stubs[i].Predict(request, 60.0)
            times.append(time.perf_counter() - start)
        return times

    start = time.perf_counter()
    with futures.ThreadPoolExecutor(conc) as pool:
        latencies = [t for ts in pool.map(client, range(conc)) for t in ts]
    wall = time.perf_counter() - start
    for c in channels:
        c.close()
    return statistics.median(latencies) * 1000, n / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--rate", type=float, default=1.0, help="sampling_rate of 'on' (0: the A/A noise floor)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = [
        tf.io.encode_png(rng.integers(0, 255, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)).numpy()
        for _ in range(16)
    ]
    with tempfile.TemporaryDirectory() as root:
        proc, target = _serve(_write_models(root, args.rate))
        try:
            results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
            for model in ("off", "on"):  # warm both
                _round(target, model, images, 2 * args.concurrency, args.concurrency)
            for i in range(args.rounds):
                for model in ("off", "on") if i % 2 == 0 else ("on", "off"):
                    results[model].append(
                        _round(target, model, images, args.requests, args.concurrency)
                    )
        finally:
            proc.terminate()
            proc.wait()
    med = {
        m: [statistics.median(col) for col in zip(*rows, strict=True)]
        for m, rows in results.items()
    }
    print(f"{'logging':<8}{'p50 ms':>9}{'req/s':>9}")
    for model in ("off", "on"):
        print(f"{model:<8}{med[model][0]:>9.2f}{med[model][1]:>9.0f}")
    print(
        f"on/off: p50 x{med['on'][0] / med['off'][0]:.3f}, req/s x{med['on'][1] / med['off'][1]:.3f}"
        f" (medians of {args.rounds} alternating rounds, {args.requests} requests, "
        f"concurrency {args.concurrency})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
