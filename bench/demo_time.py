"""`vrl demo` wall time beside the host's speed, measured in the same run.

The 60 s target of `make demo` is a wall time, and on shared machines the
same code's wall time moves with the host (the performance page has runs of
one version 1.6x apart on the same day). So each demo run is framed by a
fixed, single-threaded Python workload (10 million additions in a loop: the
pipeline's critical path is mostly Python between TensorFlow calls), timed
just before and just after it, best of two; the table gives the demo's
seconds beside the reference's, so a slow run on a slow host can be told
from a slower demo.

Each run is `python -m vrl demo --home H` in a fresh folder (no cache), as
`make demo` runs it after set-up.

    python bench/demo_time.py [--runs 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOP = 10_000_000


def reference_seconds() -> float:
    """Seconds of the fixed Python workload (best of two, so a blip is not the figure)."""
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        total = 0
        for i in range(LOOP):
            total += i
        best = min(best, time.perf_counter() - start)
    return best


def run_demo(home: str) -> tuple[float, str]:
    """(wall seconds, output) of one `vrl demo` in `home`."""
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "vrl", "demo", "--home", home],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(
            f"vrl demo failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return seconds, done.stdout


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    return match.group(1) if match else "?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", help="default: a temporary folder")
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="demo_time_")
    print(f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}; homes under {workdir}")
    print(f"{'run':>3} {'demo s':>7} {'ref s':>6} {'demo/ref':>8}  eval accuracy  CartPole")
    demos, refs = [], []
    for run in range(1, args.runs + 1):
        before = reference_seconds()
        seconds, out = run_demo(os.path.join(workdir, f"run{run}"))
        ref = (before + reference_seconds()) / 2
        demos.append(seconds)
        refs.append(ref)
        accuracy = _found(r"eval accuracy: ([0-9.]+)", out)
        cartpole = _found(r"eval return ([0-9.]+) \+- [0-9.]+ over", out)
        print(
            f"{run:>3} {seconds:>7.1f} {ref:>6.2f} {seconds / ref:>8.1f}  {accuracy:>13}  {cartpole}"
        )
    ratio = statistics.median(d / r for d, r in zip(demos, refs, strict=True))
    print(
        f"median: demo {statistics.median(demos):.1f} s (range {min(demos):.1f}-{max(demos):.1f}), "
        f"reference {statistics.median(refs):.2f} s, demo/ref {ratio:.0f}"
    )


if __name__ == "__main__":
    main()
