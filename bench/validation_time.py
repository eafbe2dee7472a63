"""The validation stage's seconds: StatisticsGen, SchemaGen, ExampleValidator,
SpanDrift and ImageChecks, with TFDV's default statistics options against the
pipeline's.

A: TFDV's defaults (exact top-k and unique counts: a Beam combine over every
   distinct value), what StatisticsGen and SpanDrift used before;
B: the pipeline's options (components/span_drift/ops.statistics_options:
   TFDV's Misra-Gries and KMV sketches).

Each round runs A then B (A B A B ...), each component's executor Do() in this
process on the same ImageExampleGen Examples, in the pipeline's order and with
the local runs' Beam args. SpanDrift compares the train split with a served
version whose provenance names the same Examples: a later run's case, in which
it computes the served span's statistics (the first run has nothing to compare).
Prints each component's median wall and CPU seconds (getrusage: every thread of
this process) for A and B, the ratio B/A and the load average, and checks that
B's schema, ExampleValidator and SpanDrift anomalies and image checks equal A's.

    python bench/validation_time.py [--examples URI] [--rounds 3]

URI is an ImageExampleGen Examples folder (Split-train/, Split-eval/), e.g. a
`vrl run image` output under tfx/image-classifier/ImageExampleGen/examples/N;
without it the demo's 1,500 shapes are written and ingested first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from unittest import mock

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tensorflow_data_validation as tfdv  # noqa: E402
from tfx.components.example_validator import executor as validator  # noqa: E402
from tfx.components.schema_gen import executor as schema_gen  # noqa: E402
from tfx.components.statistics_gen import executor as statistics_gen  # noqa: E402
from tfx.dsl.components.base import base_beam_executor  # noqa: E402
from tfx.types import artifact_utils, standard_artifacts  # noqa: E402
from tfx.types import standard_component_specs as std  # noqa: E402
from tfx.utils import path_utils  # noqa: E402

from components.image_checks import executor as image_checks  # noqa: E402
from components.image_checks import keys as checks_keys  # noqa: E402
from components.span_drift import constants as drift_keys  # noqa: E402
from components.span_drift import executor as span_drift  # noqa: E402
from components.span_drift import ops as drift_ops  # noqa: E402
from contracts import files  # noqa: E402
from contracts.serving_base import PROVENANCE_FILE  # noqa: E402
from vrl.runner import local_beam_args  # noqa: E402

COMPONENTS = ("StatisticsGen", "SchemaGen", "ExampleValidator", "SpanDrift", "ImageChecks")
CONTEXT = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=local_beam_args())


def tfdv_defaults(features_allowed=None) -> tfdv.StatsOptions:
    """Arm A: TFDV's default options (with SpanDrift's feature allowlist)."""
    return tfdv.StatsOptions(feature_allowlist=list(features_allowed) if features_allowed else None)


def _artifact(kind, uri: str, splits=None):
    artifact = kind()
    artifact.uri = uri
    if splits:
        artifact.split_names = artifact_utils.encode_split_names(splits)
    return artifact


def _served(examples_uri: str, root: str):
    """A served version (as ServedBaseline copies it) trained on `examples_uri`."""
    model = _artifact(standard_artifacts.Model, os.path.join(root, "served"))
    version = path_utils.serving_model_dir(model.uri)
    os.makedirs(os.path.join(version, "assets.extra"), exist_ok=True)
    open(os.path.join(version, "saved_model.pb"), "wb").close()
    with open(os.path.join(version, PROVENANCE_FILE), "w") as f:
        json.dump({"data": {"span": 0, "examples_uri": examples_uri}}, f)
    return model


def _stage(examples, served, options, out: str) -> dict[str, tuple[float, float]]:
    """Runs the five executors; {component: (wall s, CPU s)}."""
    shutil.rmtree(out, ignore_errors=True)
    splits = artifact_utils.decode_split_names(examples.split_names)
    stats = _artifact(standard_artifacts.ExampleStatistics, f"{out}/stats")
    schema = _artifact(standard_artifacts.Schema, f"{out}/schema")
    anomalies = _artifact(standard_artifacts.ExampleAnomalies, f"{out}/validator")
    drift = _artifact(standard_artifacts.ExampleAnomalies, f"{out}/drift")
    checks = _artifact(standard_artifacts.ExampleAnomalies, f"{out}/checks")
    for artifact in (schema, anomalies, drift, checks):
        os.makedirs(artifact.uri)
    steps = {
        "StatisticsGen": lambda: statistics_gen.Executor(CONTEXT).Do(
            {std.EXAMPLES_KEY: [examples]},
            {std.STATISTICS_KEY: [stats]},
            {std.STATS_OPTIONS_JSON_KEY: options().to_json(), std.EXCLUDE_SPLITS_KEY: "[]"},
        ),
        "SchemaGen": lambda: schema_gen.Executor().Do(
            {std.STATISTICS_KEY: [stats]},
            {std.SCHEMA_KEY: [schema]},
            {std.INFER_FEATURE_SHAPE_KEY: 1, std.EXCLUDE_SPLITS_KEY: "[]"},
        ),
        "ExampleValidator": lambda: validator.Executor().Do(
            {std.STATISTICS_KEY: [stats], std.SCHEMA_KEY: [schema]},
            {std.ANOMALIES_KEY: [anomalies]},
            {std.EXCLUDE_SPLITS_KEY: "[]"},
        ),
        "SpanDrift": lambda: span_drift.Executor(CONTEXT).Do(
            {
                drift_keys.STATISTICS_KEY: [stats],
                drift_keys.SCHEMA_KEY: [schema],
                drift_keys.BASELINE_MODEL_KEY: [served],
            },
            {drift_keys.ANOMALIES_KEY: [drift]},
            {
                drift_keys.MAX_L_INFINITY_KEY: 0.25,
                drift_keys.MAX_JS_DIVERGENCE_KEY: 0.25,
                drift_keys.HALT_KEY: 0,
            },
        ),
        "ImageChecks": lambda: image_checks.Executor().Do(
            {checks_keys.EXAMPLES: [examples], checks_keys.ANOMALIES: [anomalies]},
            {checks_keys.IMAGE_ANOMALIES: [checks]},
            {checks_keys.CONFIG: "{}", checks_keys.HALT_ON_ANOMALIES: 0},
        ),
    }
    assert list(steps) == list(COMPONENTS) and splits
    seconds = {}
    for name, step in steps.items():
        start, cpu = time.perf_counter(), _cpu()
        step()
        seconds[name] = (time.perf_counter() - start, _cpu() - cpu)
    return seconds


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _outputs(out: str) -> dict[str, bytes]:
    """Every file the checks wrote (schema, anomalies, drift, image checks), by path;
    not SpanDrift's copy of the served span's statistics, whose means vary in the last
    bit from run to run with either options (Beam's bundles sum in another order)."""
    found = {}
    for sub in ("schema", "validator", "drift", "checks"):
        for folder, _, names in os.walk(os.path.join(out, sub)):
            for name in set(names) - {files.SPAN_DRIFT_BASELINE_STATISTICS}:
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, out)] = f.read()
    return found


def _examples(args, work: str):
    if args.examples:
        uri = args.examples
    else:
        from ingest_throughput import _ingest

        from vrl import demo_data

        demo_data.make_shapes(os.path.join(work, "shapes"))
        _ingest(os.path.join(work, "shapes"), os.path.join(work, "ingest"))
        uri = os.path.join(work, "ingest", "examples")
    splits = sorted(d[len("Split-") :] for d in os.listdir(uri) if d.startswith("Split-"))
    return _artifact(standard_artifacts.Examples, uri, splits)


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", help="ImageExampleGen Examples folder (default: the demo's)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="vrl-validation-")
    examples = _examples(args, work)
    served = _served(examples.uri, work)
    arms = {"A": tfdv_defaults, "B": drift_ops.statistics_options}
    print(f"{examples.uri}; {os.cpu_count()} CPUs; {_load()}")
    _stage(examples, served, arms["B"], os.path.join(work, "warm-up"))  # imports, first traces
    times: dict[str, list[dict]] = {arm: [] for arm in arms}
    for r in range(args.rounds):
        for arm, options in arms.items():
            patch = mock.patch.object(drift_ops, "statistics_options", options)
            with patch if arm == "A" else contextlib.nullcontext():
                times[arm].append(_stage(examples, served, options, os.path.join(work, arm)))
            total = sum(w for w, _ in times[arm][-1].values())
            print(f"round {r + 1} {arm}: {total:.1f} s ({_load()})", flush=True)
        a, b = _outputs(os.path.join(work, "A")), _outputs(os.path.join(work, "B"))
        differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)) or "none"
        print(f"round {r + 1}: files of B's schema, anomalies and checks unlike A's: {differ}")
    _table(times)
    print(_load())
    shutil.rmtree(work, ignore_errors=True)


def _table(times: dict[str, list[dict]]) -> None:
    def median(arm: str, name: str | None, i: int) -> float:
        rows = times[arm]
        return statistics.median(
            sum(v[i] for v in row.values()) if name is None else row[name][i] for row in rows
        )

    print(f"{'component':<18}{'A s':>8}{'B s':>8}{'B/A':>7}{'A cpu':>8}{'B cpu':>8}{'B/A':>7}")
    for name in (*COMPONENTS, None):
        a, b = median("A", name, 0), median("B", name, 0)
        ca, cb = median("A", name, 1), median("B", name, 1)
        print(
            f"{name or 'validation stage':<18}{a:8.2f}{b:8.2f}{b / max(a, 1e-9):7.2f}"
            f"{ca:8.2f}{cb:8.2f}{cb / max(ca, 1e-9):7.2f}"
        )


if __name__ == "__main__":
    main()
