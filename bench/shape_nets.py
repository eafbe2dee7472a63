"""Which convnet widths above 28 px: eval accuracy on the shapes demo and CPU per step.

Two parts, both on 2 cores whatever else runs:

1. CPU milliseconds per optimizer step of each candidate, measured in one
   process (batch 32, 32x32x3 inputs, the trainer's own `build_model` and
   `compile_model`), the candidates taking turns for `--rounds` rounds of
   60 steps; medians, and the ratio to (32, 64, 128), the default.
   CPU seconds, not wall seconds: on a shared machine the wall time of a
   step moves with the load, its CPU time much less.
2. With `--accuracy`: `vrl run image` on the shapes demo data (`vrl data
   shapes`, 1,500 images, 5 classes) for each candidate and seed, as the demo
   trains (10 epochs, min_steps 600: 600 optimizer steps), in one home so
   ingest, statistics and Transform come from the pipeline's cache; prints the
   eval accuracy from each run's training report.

    python bench/shape_nets.py [--rounds 4] [--accuracy [--seeds 42 7]]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CANDIDATES = [(32, 64, 128), (16, 64, 128), (16, 32, 128), (16, 32, 64)]
"""Stage widths tried; (32, 64, 128) is the default above 28 px."""
SIDE = 32


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_per_step(rounds: int, steps: int = 60) -> dict[tuple, list[float]]:
    """CPU ms per optimizer step of each candidate, one list entry per round."""
    import numpy as np
    import tensorflow as tf

    from models.cnn.model import build_model, compile_model

    rng = np.random.default_rng(0)
    x = rng.random((1184, SIDE, SIDE, 3), dtype=np.float32)
    y = rng.integers(0, 5, 1184)
    nets = {}
    for filters in CANDIDATES:
        net = compile_model(build_model((SIDE, SIDE, 3), 5, filters=filters))
        batches = iter(tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(32).prefetch(2))
        net.fit(batches, steps_per_epoch=20, epochs=1, verbose=0)  # traced, warm
        nets[filters] = (net, batches)
    out: dict[tuple, list[float]] = {f: [] for f in CANDIDATES}
    for _ in range(rounds):
        for filters, (net, batches) in nets.items():
            start = _cpu()
            net.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
            out[filters].append((_cpu() - start) / steps * 1000)
    return out


def eval_accuracy(data: str, home: str, filters: tuple, seed: int) -> dict:
    """The training report's summary of one `vrl run image` on `data`."""
    from contracts.files import TRAINING_REPORT_FILE
    from pipeline.image_config import ImagePipelineConfig
    from vrl.mlmd import open_store
    from vrl.results import latest_artifact
    from vrl.runner import metadata_path

    argv = [sys.executable, "-m", "vrl", "run", "image", "--data", data, "--home", home]
    argv += ["--epochs", "10", "--seed", str(seed), "--filters", *map(str, filters)]
    subprocess.run(argv, check=False, capture_output=True)
    root = ImagePipelineConfig(data_dir=data, home=home).resolved_pipeline_root
    run = latest_artifact(open_store(metadata_path(root)), "ModelRun")
    with open(os.path.join(run.uri, TRAINING_REPORT_FILE)) as f:
        return json.load(f)["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--accuracy", action="store_true", help="also run the pipeline per candidate"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7])
    parser.add_argument("--home", help="default: a temporary folder")
    args = parser.parse_args()
    import numpy as np

    print(f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}")
    per_step = cpu_per_step(args.rounds)
    base = float(np.median(per_step[CANDIDATES[0]]))
    print(f"{'filters':<16}{'CPU ms/step':>12}{'ratio':>7}  rounds")
    for filters, values in per_step.items():
        median = float(np.median(values))
        print(
            f"{str(filters):<16}{median:>12.1f}{median / base:>7.2f}  {[round(v) for v in values]}"
        )
    if not args.accuracy:
        return
    from vrl import demo_data

    home = args.home or tempfile.mkdtemp(prefix="vrl-shape-nets-")
    data = os.path.join(home, "shapes")
    if not os.path.isdir(data):
        demo_data.make_shapes(data)
    print(f"\n{'filters':<16}{'seed':>6}{'eval acc':>10}{'steps':>7}{'fit s':>8}  load")
    for filters in CANDIDATES:
        for seed in args.seeds:
            start = time.time()
            summary = eval_accuracy(data, os.path.join(home, "runs"), filters, seed)
            print(
                f"{str(filters):<16}{seed:>6}{summary['eval_accuracy']:>10.4f}"
                f"{summary['optimizer_steps']:>7}{summary['seconds']['fit']:>8.1f}"
                f"  {os.getloadavg()[0]:.1f} ({time.time() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
