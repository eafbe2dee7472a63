"""The pipeline's Transform (ImageTransform's executor) on a run's ingested examples.

Runs the executor's Do() as the pipeline does (the embedded in-memory Beam,
`preprocessing_fn` from models/cnn/preprocessing.py, materialised, no
statistics) on the Examples and schema of an earlier `vrl run image`
(`--pipeline-root`: its `tfx/image-classifier` folder), each run in a fresh
process timed from after its imports. `--limit N` first copies N examples
(split in the same proportions) to measure the fixed cost on a small input.

With --against OTHER_CHECKOUT it is an A/B: that checkout's Transform and this
one's, alternating (before, after, before, after, ...); prints the medians,
their ratio, CPU seconds and the load, and whether both wrote the same
transformed examples (each split's tf.Examples, in order).

    python bench/transform_throughput.py --pipeline-root ROOT [--limit 1500] [--rounds 3]
    python bench/transform_throughput.py --pipeline-root ROOT --against OLD_CHECKOUT
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
_HERE = os.path.dirname(os.path.abspath(__file__))
_PREPROCESSING_FN = "models.cnn.preprocessing.preprocessing_fn"


def _newest(pattern: str) -> str:
    found = sorted(glob.glob(pattern), key=lambda p: int(os.path.basename(p)))
    if not found:
        raise SystemExit(f"{pattern}: nothing there; give the tfx/<pipeline> folder of a run")
    return found[-1]


def _splits(examples: str) -> list[str]:
    return sorted(os.path.basename(p)[len("Split-") :] for p in glob.glob(f"{examples}/Split-*"))


def _records(folder: str) -> list[bytes]:
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(folder, "*")))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _examples(folder: str) -> list:
    """The tf.Examples written there, in order (parsed: a feature map's serialized
    order varies from run to run)."""
    import tensorflow as tf

    return [tf.train.Example.FromString(r) for r in _records(folder)]


def _limited(examples: str, limit: int, out: str) -> str:
    """The first `limit` examples of `examples`, each split keeping its share."""
    import tensorflow as tf

    counts = {s: len(_records(f"{examples}/Split-{s}")) for s in _splits(examples)}
    total = sum(counts.values())
    for split, count in counts.items():
        keep = _records(f"{examples}/Split-{split}")[: max(1, round(limit * count / total))]
        os.makedirs(f"{out}/Split-{split}")
        with tf.io.TFRecordWriter(f"{out}/Split-{split}/data.gz", "GZIP") as writer:
            for record in keep:
                writer.write(record)
    for name in os.listdir(examples):
        if not name.startswith("Split-"):
            shutil.copy(os.path.join(examples, name), out)
    return out


def _transform(examples: str, schema: str, image_size: int, out: str) -> None:
    """ImageTransform's executor as the pipeline runs it, outputs under `out`."""
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as std

    from components.image_transform.executor import Executor

    def artifact(kind, uri: str):
        a = kind()
        a.uri = uri
        return a

    raw = artifact(standard_artifacts.Examples, examples)
    raw.split_names = json.dumps(_splits(examples))
    inputs = {
        std.EXAMPLES_KEY: [raw],
        std.SCHEMA_KEY: [artifact(standard_artifacts.Schema, schema)],
    }
    outputs = {
        std.TRANSFORM_GRAPH_KEY: [artifact(standard_artifacts.TransformGraph, f"{out}/graph")],
        std.TRANSFORMED_EXAMPLES_KEY: [artifact(standard_artifacts.Examples, f"{out}/examples")],
        std.UPDATED_ANALYZER_CACHE_KEY: [artifact(standard_artifacts.TransformCache, f"{out}/c")],
    }
    props = {
        std.PREPROCESSING_FN_KEY: _PREPROCESSING_FN,
        std.CUSTOM_CONFIG_KEY: json.dumps({"image_size": image_size}),
        std.FORCE_TF_COMPAT_V1_KEY: 0,
        std.DISABLE_STATISTICS_KEY: 1,
    }
    # The local runs' Beam args are none (vrl/runner.py: local_beam_args).
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=[], tmp_dir=f"{out}/tmp", unique_id="bench"
    )
    Executor(context).Do(inputs, outputs, props)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _child(args: argparse.Namespace) -> None:
    import components.image_transform.executor  # noqa: F401 (imports are not measured)

    start, cpu = time.perf_counter(), _cpu_seconds()
    _transform(args.examples, args.schema, args.image_size, args.out)
    result = {"seconds": time.perf_counter() - start, "cpu": _cpu_seconds() - cpu}
    print("RESULT " + json.dumps(result), flush=True)


def _run(root: str, args: argparse.Namespace, examples: str, schema: str, out: str) -> dict:
    """`_child` in a fresh process whose `components` and `models` come from `root`."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--out", out]
    cmd += ["--examples", examples, "--schema", schema, "--image-size", str(args.image_size)]
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"Transform from {root} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline-root", help="a run's tfx/<pipeline> folder")
    parser.add_argument("--limit", type=int, help="copy this many examples first")
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", help="checkout to compare with (before)")
    for hidden in ("--examples", "--schema", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    if not args.pipeline_root:
        parser.error("--pipeline-root is required")
    work = tempfile.mkdtemp(prefix="vrl-transform-")
    examples = _newest(f"{args.pipeline_root}/ImageExampleGen/examples/*")
    schema = _newest(f"{args.pipeline_root}/SchemaGen/schema/*")
    if args.limit:
        examples = _limited(examples, args.limit, f"{work}/input")
    count = sum(len(_records(f"{examples}/Split-{s}")) for s in _splits(examples))
    this = os.path.dirname(_HERE)
    arms = [("before", args.against), ("after", this)] if args.against else [("this", this)]
    print(f"{count} examples from {examples}; {os.cpu_count()} CPUs; {_load()}")
    runs: dict[str, list[dict]] = {name: [] for name, _ in arms}
    for r in range(args.rounds):
        for name, root in arms:
            result = _run(root, args, examples, schema, f"{work}/{name}")
            runs[name].append(result)
            print(
                f"round {r + 1} {name:<7}{result['seconds']:7.1f} s  CPU {result['cpu']:6.1f} s  "
                f"{count / result['seconds']:6.0f} img/s  ({_load()})",
                flush=True,
            )
    median = {n: statistics.median(x["seconds"] for x in v) for n, v in runs.items()}
    cpu = {n: statistics.median(x["cpu"] for x in v) for n, v in runs.items()}
    if args.against:
        same = all(
            _examples(f"{work}/before/examples/Split-{s}")
            == _examples(f"{work}/after/examples/Split-{s}")
            for s in _splits(examples)
        )
        print(
            f"median: before {median['before']:.1f} s (CPU {cpu['before']:.1f} s), after "
            f"{median['after']:.1f} s (CPU {cpu['after']:.1f} s): "
            f"{median['after'] / median['before']:.2f}x time, {cpu['after'] / cpu['before']:.2f}x "
            f"CPU; transformed examples identical: {same} ({_load()})"
        )
    else:
        print(f"median {median['this']:.1f} s (CPU {cpu['this']:.1f} s) ({_load()})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
