"""How long destroying the Trainer's training iterator takes, with and without tf.data's autotune thread.

The Trainer's training pipeline (uint8 pixels cached, shuffled whole,
repeated, batched, scaled by a parallel map, prefetched) over 1,200 random
32x32x3 images, iterated as `Model.fit` iterates it: one batch per
simulated step of `--step-ms`, for `--seconds`; then the iterator is
dropped and the seconds until that returns are the teardown. Arms alternate
(autotune thread on, off, on, off, ...) in one process; prints each round,
the medians and the batches per second of each arm (the throughput the
change must keep).

    python bench/data_teardown.py [--seconds 30] [--rounds 3] [--step-ms 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from models.tfdata import without_autotune_thread  # noqa: E402

IMAGES = 1200


def training_pipeline(autotune_thread: bool) -> tf.data.Dataset:
    """The shape of `models.cnn.data.training_dataset` over in-memory pixels."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (IMAGES, 32, 32, 3), np.uint8)
    labels = rng.integers(0, 5, IMAGES, np.int64)
    ds = tf.data.Dataset.from_tensor_slices((pixels, labels))
    if not autotune_thread:
        ds = without_autotune_thread(ds)
    ds = ds.cache().shuffle(IMAGES, seed=0, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(32).map(
        lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def one_round(autotune_thread: bool, seconds: float, step_ms: float) -> tuple[float, float]:
    """(batches per second while iterating, seconds to destroy the iterator)."""
    iterator = iter(training_pipeline(autotune_thread))
    start, batches = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        next(iterator)
        time.sleep(step_ms / 1000)
        batches += 1
    stopped = time.perf_counter()
    del iterator  # the last reference: the iterator resource is destroyed here
    return batches / (stopped - start), time.perf_counter() - stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="iteration per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per arm")
    parser.add_argument("--step-ms", type=float, default=50.0, help="simulated training step")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"autotune thread": [], "without": []}
    for r in range(1, args.rounds + 1):
        for arm, on in (("autotune thread", True), ("without", False)):
            rate, teardown = one_round(on, args.seconds, args.step_ms)
            results[arm].append((rate, teardown))
            load = os.getloadavg()[0]
            print(
                f"round {r} {arm:16s} {rate:6.1f} batches/s  teardown {teardown:6.2f} s"
                f"  (load {load:.1f})",
                flush=True,
            )
    for arm, rows in results.items():
        print(
            f"median {arm:16s} {statistics.median(r for r, _ in rows):6.1f} batches/s  "
            f"teardown {statistics.median(t for _, t in rows):6.2f} s "
            f"(max {max(t for _, t in rows):.2f} s)"
        )


if __name__ == "__main__":
    main()
