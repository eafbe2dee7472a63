"""ImageExampleGen's throughput beside reading and decoding the same files bare.

On one class-per-folder tree of small PNGs (bench/digits.py, or --data), in
alternating rounds:

1. read: every file read whole with open() (the floor any ingest pays);
2. tf.data: what tf_keras' image_dataset_from_directory does per file
   (read_file + decode_png, parallel map), no checks, nothing written;
3. ImageExampleGen: the executor's Do() on the embedded default (in-memory
   Beam, the local runs' Beam args): decode-check by Pillow and TensorFlow,
   build tf.Examples, hash-split, write gzip TFRecords and the ingest report.

Prints images per second of each and ImageExampleGen's time as a ratio of
the two bare paths (best round of each; imports happen before round 1), with
the load average: on a shared machine compare the ratios of one run, not
figures across runs.

With --against OTHER_CHECKOUT it is an A/B instead: ImageExampleGen of that
checkout and of this one, alternating (before, after, before, after, ...),
each in a fresh process timed from after its imports; prints the medians,
their ratio, CPU seconds and the load, and checks that both wrote the same
examples (each split's records, compared sorted), vocabulary, quarantine list
and ingest report (a file only one of them writes is named, not compared).

    python bench/ingest_throughput.py [--data TREE | --count 10000] [--rounds 2]
    python bench/ingest_throughput.py --data TREE --against OLD_CHECKOUT --rounds 3
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _read_all(files: list[str]) -> None:
    for path in files:
        with open(path, "rb") as f:
            f.read()


def _tf_data(files: list[str]) -> None:
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(files).map(
        lambda p: tf.shape(tf.io.decode_png(tf.io.read_file(p), channels=3)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    for _ in ds.batch(256):
        pass


def _ingest(data: str, out: str) -> dict:
    """Runs ImageExampleGen's executor over `data` into `out`; returns its ingest report."""
    from tfx.dsl.components.base import base_beam_executor
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as std
    from tfx.utils import proto_utils

    from components.image_example_gen import component, executor, spec
    from contracts import files as file_names
    from vrl.runner import local_beam_args

    shutil.rmtree(out, ignore_errors=True)
    props = {
        std.INPUT_BASE_KEY: data,
        std.INPUT_CONFIG_KEY: proto_utils.proto_to_json(component.default_input_config("*/*")),
        std.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(component.default_output_config()),
        std.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        std.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        spec.INPUT_FORMAT_KEY: "auto",
        spec.MAX_BAD_FRACTION_KEY: spec.DEFAULT_MAX_BAD_FRACTION,
        spec.MIN_SIDE_KEY: spec.DEFAULT_MIN_SIDE,
        spec.MAX_SIDE_KEY: spec.DEFAULT_MAX_SIDE,
        spec.MAX_IMAGE_PIXELS_KEY: spec.DEFAULT_MAX_IMAGE_PIXELS,
    }
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(out, "examples")
    quarantine = spec.QuarantineReport()
    quarantine.uri = os.path.join(out, "quarantine")
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=local_beam_args())
    outputs = {spec.EXAMPLES_KEY: [examples], spec.QUARANTINE_KEY: [quarantine]}
    executor.Executor(context).Do({}, outputs, props)
    with open(os.path.join(quarantine.uri, file_names.INGEST_REPORT_FILE)) as f:
        return json.load(f)


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _child(data: str, out: str) -> None:
    """One timed ImageExampleGen run (imports first); prints its figures as JSON."""
    import tensorflow  # noqa: F401

    import components.image_example_gen.executor  # noqa: F401

    cpu, start = _cpu_seconds(), time.perf_counter()
    report = _ingest(data, out)
    seconds = time.perf_counter() - start
    figures = {"seconds": seconds, "cpu": _cpu_seconds() - cpu, "load": os.getloadavg()[0]}
    print(json.dumps({**figures, "written": report["examples_written"]}))


def _run_checkout(root: str, data: str, out: str) -> dict:
    """`_child` in a fresh process whose `components` and `vrl` come from `root`."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(root)}
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--data", data, "--out", out]
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{root}: ImageExampleGen failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _outputs(out: str) -> dict:
    """Everything a run wrote: each split's records (sorted) and the report files.

    Records are compared as deterministic serializations: a tf.Example's
    feature map is written in an order that varies from process to process.
    """
    import tensorflow as tf

    written: dict = {}
    for split in sorted(glob.glob(os.path.join(out, "examples", "Split-*"))):
        files = sorted(glob.glob(os.path.join(split, "*.gz")))
        dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
        written[os.path.basename(split)] = sorted(
            tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
            for r in dataset
        )
    for path in glob.glob(os.path.join(out, "*", "*.*")):
        with open(path, "rb") as f:
            written[os.path.relpath(path, out)] = f.read()
    return written


def _ab(data: str, against: str, rounds: int, work: str) -> None:
    """Alternating runs of ImageExampleGen from `against` (before) and this checkout."""
    this = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for r in range(rounds):
        for name, root in (("before", against), ("after", this)):
            figures = _run_checkout(root, data, os.path.join(work, name))
            runs[name].append(figures)
            print(
                f"round {r + 1} {name:<7}{figures['seconds']:7.1f} s, CPU {figures['cpu']:6.1f} s, "
                f"{figures['written']} written, load {figures['load']:.1f}",
                flush=True,
            )
    before, after = _outputs(os.path.join(work, "before")), _outputs(os.path.join(work, "after"))
    same = all(before[k] == after[k] for k in before.keys() & after.keys())
    for label, names in (
        ("only before", before.keys() - after.keys()),
        ("only after", after.keys() - before.keys()),
    ):
        if names:
            print(f"files written {label}: {sorted(names)}")
    median = {k: statistics.median(f["seconds"] for f in v) for k, v in runs.items()}
    cpu = {k: statistics.median(f["cpu"] for f in v) for k, v in runs.items()}
    print(
        f"median: before {median['before']:.1f} s (CPU {cpu['before']:.1f} s), after "
        f"{median['after']:.1f} s (CPU {cpu['after']:.1f} s): {median['after'] / median['before']:.2f}x "
        f"time, {cpu['after'] / cpu['before']:.2f}x CPU; outputs identical: {same} ({_load()})"
    )
    if not same:
        raise SystemExit("the two checkouts wrote different outputs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="class-per-folder tree (default: --count digits written)")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--against", help="another checkout: A/B its ImageExampleGen and this")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.data, args.out)
        return
    work = tempfile.mkdtemp(prefix="vrl-ingest-")
    data = args.data
    if not data:
        import digits

        data = os.path.join(work, "digits")
        images, labels, _ = digits.make_digits(args.count)
        digits.write_tree(data, images, labels)
    if args.against:
        _ab(data, args.against, args.rounds, work)
        shutil.rmtree(work, ignore_errors=True)
        return
    files = sorted(glob.glob(os.path.join(data, "*", "*")))
    import tensorflow  # noqa: F401 (imports are not what is measured)

    import components.image_example_gen.executor  # noqa: F401

    print(f"{len(files)} files under {data}; {os.cpu_count()} CPUs; {_load()}")
    best: dict[str, float] = {}
    report: dict = {}
    for r in range(args.rounds):
        for name, run in (
            ("read", lambda: _read_all(files)),
            ("tf.data", lambda: _tf_data(files)),
            ("ImageExampleGen", lambda: _ingest(data, os.path.join(work, "out"))),
        ):
            start = time.perf_counter()
            report = run() or report
            seconds = time.perf_counter() - start
            best[name] = min(best.get(name, seconds), seconds)
            print(f"round {r + 1} {name:<16}{seconds:8.1f} s {len(files) / seconds:9.0f} img/s")
    print(
        f"ImageExampleGen: {report['examples_written']} written, {report['quarantined']} "
        f"quarantined; {len(files) / best['ImageExampleGen']:.0f} img/s, "
        f"{best['ImageExampleGen'] / best['read']:.1f}x reading the files, "
        f"{best['ImageExampleGen'] / best['tf.data']:.1f}x tf.data read+decode ({_load()})"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
