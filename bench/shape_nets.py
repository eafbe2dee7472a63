"""The default convnet above 28 px: with its stem and without, CPU per step and eval accuracy.

Two parts, both on 2 cores whatever else runs:

1. CPU milliseconds per optimizer step of each candidate, measured in one
   process (batch 32, 32x32x3 inputs, the trainer's own `build_model` and
   `compile_model`), the candidates taking turns for `--rounds` rounds of
   60 steps; medians, and the ratio to the first: (32, 64, 128) without the
   stem (`--no-stem`), the default before the stem.
   CPU seconds, not wall seconds: on a shared machine the wall time of a
   step moves with the load, its CPU time much less.
2. With `--accuracy`: `vrl run image` on the shapes demo data (`vrl data
   shapes`, 1,500 images, 5 classes) for each candidate, step count and
   seed, in one home so ingest, statistics and Transform come from the
   pipeline's cache (the stem setting is in the Trainer's config, so its
   cache key); prints the eval accuracy and fit seconds from each run's
   training report. 10 epochs are 600 optimizer steps (min_steps then), 20
   740, 25 925 (measured on the demo data before its shapes were kept inside
   the center crop; the default is now 8 epochs and min_steps 300).

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

CANDIDATES = [
    ((32, 64, 128), False),
    ((32, 64, 128), True),
    ((24, 48, 96), True),
    ((16, 64, 128), False),
    ((16, 32, 64), False),
]
"""(stage widths, stem) tried; ((24, 48, 96), True) is the default above 28 px up to
32 px, ((32, 64, 128), True) above."""
ACCURACY_RUNS = [
    ((32, 64, 128), False, 10),
    ((32, 64, 128), True, 10),
    ((32, 64, 128), True, 20),
    ((32, 64, 128), True, 25),
    ((24, 48, 96), True, 20),
]
"""(stage widths, stem, epochs) of the pipeline runs with --accuracy."""
SIDE = 32


def _name(filters: tuple, with_stem: bool) -> str:
    return f"{filters}{' stem' if with_stem else ''}"


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
    for filters, with_stem in CANDIDATES:
        net = compile_model(build_model((SIDE, SIDE, 3), 5, filters=filters, stem=with_stem))
        batches = iter(tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(32).prefetch(2))
        net.fit(batches, steps_per_epoch=20, epochs=1, verbose=0)  # traced, warm
        nets[(filters, with_stem)] = (net, batches)
    out: dict[tuple, list[float]] = {c: [] for c in CANDIDATES}
    for _ in range(rounds):
        for candidate, (net, batches) in nets.items():
            start = _cpu()
            net.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
            out[candidate].append((_cpu() - start) / steps * 1000)
    return out


def eval_accuracy(data: str, home: str, filters: tuple, with_stem: bool, epochs: int, seed: int):
    """The training report's summary of one `vrl run image` on `data`."""
    from contracts.files import TRAINING_REPORT_FILE
    from pipeline.image_config import ImagePipelineConfig
    from vrl.mlmd import open_store
    from vrl.results import latest_artifact
    from vrl.runner import metadata_path

    argv = [sys.executable, "-m", "vrl", "run", "image", "--data", data, "--home", home]
    argv += ["--stem" if with_stem else "--no-stem"]
    argv += ["--epochs", str(epochs), "--seed", str(seed), "--filters", *map(str, filters)]
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
    print(f"{'convnet':<22}{'CPU ms/step':>12}{'ratio':>7}  rounds")
    for candidate, values in per_step.items():
        median = float(np.median(values))
        print(
            f"{_name(*candidate):<22}{median:>12.1f}{median / base:>7.2f}"
            f"  {[round(v) for v in values]}"
        )
    if not args.accuracy:
        return
    from vrl import demo_data

    home = args.home or tempfile.mkdtemp(prefix="vrl-shape-nets-")
    data = os.path.join(home, "shapes")
    if not os.path.isdir(data):
        demo_data.make_shapes(data)
    print(f"\n{'convnet':<22}{'seed':>6}{'eval acc':>10}{'steps':>7}{'fit s':>8}  load")
    for filters, with_stem, epochs in ACCURACY_RUNS:
        for seed in args.seeds:
            start = time.time()
            summary = eval_accuracy(
                data, os.path.join(home, "runs"), filters, with_stem, epochs, seed
            )
            print(
                f"{_name(filters, with_stem):<22}{seed:>6}{summary['eval_accuracy']:>10.4f}"
                f"{summary['optimizer_steps']:>7}{summary['seconds']['fit']:>8.1f}"
                f"  {os.getloadavg()[0]:.1f} ({time.time() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
