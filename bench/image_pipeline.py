"""Wall time and peak memory per component of the demo image pipeline.

Runs the image pipeline once on the embedded default (LocalDagRunner, SQLite
MLMD, in-memory Beam) over the shapes demo data, sampling the process's RSS
every 50 ms; each component's window comes from its ML Metadata execution
(start and last-update times), and its peak is the highest RSS sampled in
that window. The whole run runs in one process, so "peak" includes what
earlier components left allocated: the baseline line shows RSS before the run.

    .venv/bin/python bench/image_pipeline.py [--per-class 300] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class RssSampler(threading.Thread):
    """Samples this process's resident set size at a fixed period."""

    def __init__(self, period: float = 0.05):
        super().__init__(daemon=True)
        import psutil

        self._proc = psutil.Process()
        self._period = period
        self._halt = threading.Event()
        self.samples: list[tuple[float, int]] = []

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.time(), self._proc.memory_info().rss))
            time.sleep(self._period)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak(self, start: float, end: float) -> int | None:
        """Highest RSS sampled in [start, end]; None if the window fell between samples."""
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return max(inside) if inside else None


def component_windows(pipeline_root: str) -> list[tuple[str, float, float]]:
    """(component id, start s, end s) of each execution, in run order."""
    from vrl.results import open_store
    from vrl.runner import metadata_path

    store = open_store(metadata_path(pipeline_root))
    rows = []
    for ex in store.get_executions():
        rows.append(
            (
                ex.type.rsplit(".", 1)[-1],
                ex.create_time_since_epoch / 1e3,
                ex.last_update_time_since_epoch / 1e3,
            )
        )
    return sorted(rows, key=lambda r: r[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--home", default=None, help="default: a temporary folder")
    args = parser.parse_args()

    import psutil

    from pipeline.image_config import ImagePipelineConfig
    from vrl import demo_data
    from vrl.local import run_image_pipeline

    home = args.home or tempfile.mkdtemp(prefix="vrl-bench-")
    data = os.path.join(home, "data")
    demo_data.make_shapes(data, per_class=args.per_class)
    config = ImagePipelineConfig(data_dir=data, home=home, enable_cache=False)

    base_rss = psutil.Process().memory_info().rss
    sampler = RssSampler()
    sampler.start()
    start = time.time()
    summary = run_image_pipeline(config)
    total = time.time() - start
    sampler.stop()

    print(f"\nimage pipeline on shapes ({args.per_class}/class), 2-core CPU, in-memory Beam")
    print(f"{'component':<34}{'wall s':>9}{'peak RSS MiB':>15}")
    for name, t0, t1 in component_windows(config.resolved_pipeline_root):
        peak = sampler.peak(t0, t1)
        shown = f"{peak / 2**20:.0f}" if peak is not None else "-"
        print(f"{name:<34}{t1 - t0:>9.1f}{shown:>15}")
    print(f"{'(RSS before run, before TF import)':<34}{'':>9}{base_rss / 2**20:>15.0f}")
    print(f"{'whole pipeline':<34}{total:>9.1f}{max(r for _, r in sampler.samples) / 2**20:>15.0f}")
    print(f"eval accuracy: {summary.metrics.get('sparse_categorical_accuracy')}")


if __name__ == "__main__":
    main()
