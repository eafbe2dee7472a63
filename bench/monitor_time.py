"""How long `vrl monitor` takes on the served side: N logged requests to TFDV statistics.

Writes N PredictionLogs (one 32x32 PNG per request, 10-class probabilities) as
`vrl serve`'s request logger names and frames them, then times what `vrl monitor`
does with them: reading the window (serving/log_files.py), the feature rows
(ingest's check_image per image, the model outputs) and TFDV statistics. The
training side (scoring a span sample) does not grow with traffic and is left out.

  TF_USE_LEGACY_KERAS=1 python bench/monitor_time.py [--requests 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from serving.log_files import read_logged_traffic
from serving.request_log import prediction_log
from serving.request_log_file import SUFFIX
from vrl import drift
from vrl.monitor_run import served_rows


def _write_logs(prefix: str, n: int) -> None:
    rng = np.random.default_rng(0)
    images = [
        tf.io.encode_png(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).numpy()
        for _ in range(64)
    ]
    logits = rng.normal(0, 2, (n, 10))
    probabilities = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    path = f"{prefix}.{int(time.time() * 1000)}.0-1{SUFFIX}"
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(n):
            request = {"image_bytes": np.array([images[i % len(images)]], dtype=object)}
            response = {"probabilities": probabilities[i : i + 1]}
            record = prediction_log("m", 1, "serving_default", request, response, 1.0)
            writer.write(record.SerializeToString())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        prefix = os.path.join(root, "m")
        _write_logs(prefix, args.requests)
        steps = {}
        start = time.perf_counter()
        traffic = read_logged_traffic(prefix, 0, time.time() + 60)
        steps["read logs"] = time.perf_counter() - start
        start = time.perf_counter()
        rows, _ = served_rows(traffic.logs)
        steps["feature rows"] = time.perf_counter() - start
        start = time.perf_counter()
        drift.statistics(rows)
        steps["TFDV statistics"] = time.perf_counter() - start
    total = sum(steps.values())
    for name, seconds in steps.items():
        print(f"{name:<16}{seconds:>8.1f} s")
    print(
        f"total {total:.1f} s for {args.requests} logged requests "
        f"({args.requests / total:.0f} requests/s; 100,000 in about {1e5 / args.requests * total:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
