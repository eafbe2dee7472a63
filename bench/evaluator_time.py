"""The image Evaluator's seconds, before (A) and after (B) one of its speed changes.

--compare per-class: per-class precision/recall from TFMA's binarized
Precision/Recall (A, as the Evaluator computed them before) against the same
metrics read from TFMA's multi-class confusion matrix (B, create_eval_config now).
--compare autograph: Keras converting its metrics' update_state with AutoGraph
(A, before) against the executor's AutoGraph-off context (B, now).

Runs the GatedEvaluator's executor (TFX's Evaluator and TFMA, then the gates) on
the Examples and Model of a finished `vrl run image`, in alternating rounds
A B A B ..., each in a fresh process (the pipeline's local Beam settings), and
prints each round's wall and CPU seconds (the executor's Do only, not imports),
the medians of each and their ratio, the load average, and whether A and B
wrote the same metrics (every key, slice and value) and the same confusion matrix.

    python bench/evaluator_time.py --run PIPELINE_ROOT [--rounds 3] [--baseline]
        [--compare per-class|autograph]

PIPELINE_ROOT is the run's pipeline folder (the one holding ImageExampleGen/ and
Trainer/); the newest Examples and Model in it are used. --baseline evaluates
against a served copy of the same model, so TFMA evaluates two models as it does
once a model is served.
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
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = {
    "per-class": {"A": "TFMA's binarized Precision/Recall", "B": "from the confusion matrix"},
    "autograph": {"A": "Keras metrics converted by AutoGraph", "B": "AutoGraph off"},
}


def _newest(pattern: str) -> str:
    found = [p for p in glob.glob(pattern) if os.path.basename(p).isdigit()]
    if not found:
        raise SystemExit(
            f"{pattern}: no artifact folder; pass a finished image run's pipeline root"
        )
    return max(found, key=lambda p: int(os.path.basename(p)))


def _evaluate(args: argparse.Namespace) -> dict:
    """One executor run into `args.out`; returns its wall and CPU seconds."""
    import contextlib

    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as std
    from tfx.utils import proto_utils

    from components.gated_evaluator import class_metrics, executor
    from pipeline.image_pipeline import create_eval_config

    variant, model_uri, out = args.child, args.model, args.out
    examples, model = standard_artifacts.Examples(), standard_artifacts.Model()
    examples.uri, model.uri = args.examples, model_uri
    examples.split_names = json.dumps(["train", "eval"])
    served = standard_artifacts.Model()
    served.uri = os.path.join(out, "baseline")
    if args.baseline:  # what ServedBaseline holds once a model is served
        os.makedirs(served.uri)
        os.symlink(os.path.join(model_uri, "Format-Serving"), f"{served.uri}/Format-Serving")
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = os.path.join(out, "evaluation"), os.path.join(out, "blessing")
    config = create_eval_config(0.9, 0.01)
    if variant == "A" and args.compare == "per-class":
        config = class_metrics.with_tfma_metrics(config)
    if variant == "A" and args.compare == "autograph":
        executor.keras_metrics_unconverted = contextlib.nullcontext
    props = {
        std.EVAL_CONFIG_KEY: proto_utils.proto_to_json(config),
        std.EXAMPLE_SPLITS_KEY: "null",
        std.FAIRNESS_INDICATOR_THRESHOLDS_KEY: "null",
        executor.MIN_ACCURACY_KEY: 0.9,
        executor.MAX_ACCURACY_DROP_KEY: 0.01,
        executor.TFLITE_MAX_DROP_KEY: 0.02,
    }
    inputs = {
        std.EXAMPLES_KEY: [examples],
        std.MODEL_KEY: [model],
        std.BASELINE_MODEL_KEY: [served],
    }
    outputs = {std.EVALUATION_KEY: [evaluation], std.BLESSING_KEY: [blessing]}
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    executor.Executor().Do(inputs, outputs, props)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"wall": wall, "cpu": cpu}


def _written(evaluation_uri: str) -> tuple[dict, list]:
    """Every metric value by (slice, key), and the plots, as TFMA wrote them."""
    import tensorflow_model_analysis as tfma

    metrics = {
        (str(m.slice_key), str(kv.key)): kv.value.SerializeToString()
        for m in tfma.load_metrics(evaluation_uri)
        for kv in m.metric_keys_and_values
    }
    plots = sorted(p.SerializeToString() for p in tfma.load_plots(evaluation_uri))
    return metrics, plots


def _child(args: argparse.Namespace) -> int:
    seconds = _evaluate(args)
    print("RESULT " + json.dumps(seconds), flush=True)
    return 0


def _round(variant: str, args: argparse.Namespace, examples: str, model: str, out: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, os.path.abspath(__file__), "--child", variant]
    command += ["--examples", examples, "--model", model, "--out", out]
    command += ["--compare", args.compare] + (["--baseline"] if args.baseline else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"variant {variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a finished image run's pipeline root")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--compare", choices=sorted(VARIANTS), default="per-class")
    parser.add_argument("--child", choices=("A", "B"), help=argparse.SUPPRESS)
    parser.add_argument("--examples", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    if not args.run:
        parser.error("--run PIPELINE_ROOT is required")
    examples = _newest(os.path.join(args.run, "ImageExampleGen", "examples", "*"))
    model = _newest(os.path.join(args.run, "Trainer", "model", "*"))
    print(f"examples {examples}\nmodel {model}\nbaseline: {'yes' if args.baseline else 'no'}")
    print(
        f"load at start {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}"
    )
    variants = VARIANTS[args.compare]
    times: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(args.rounds):
            for variant in variants:
                t = _round(variant, args, examples, model, os.path.join(scratch, variant))
                times[variant].append(t)
                print(f"round {i + 1} {variant}: {t['wall']:6.1f} s wall {t['cpu']:6.1f} s CPU")
        a, b = (_written(os.path.join(scratch, v, "evaluation")) for v in variants)
    load = os.getloadavg()
    print(f"load at end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    medians = {
        v: {k: statistics.median(t[k] for t in runs) for k in ("wall", "cpu")}
        for v, runs in times.items()
    }
    for v, label in variants.items():
        m = medians[v]
        print(f"{v} ({label}): median {m['wall']:.1f} s wall, {m['cpu']:.1f} s CPU")
    print(
        f"A/B: {medians['A']['wall'] / medians['B']['wall']:.2f}x wall, "
        f"{medians['A']['cpu'] / medians['B']['cpu']:.2f}x CPU"
    )
    same = a[0] == b[0]
    print(
        f"metrics identical: {same} ({len(a[0])} values); confusion matrix identical: {a[1] == b[1]}"
    )
    return 0 if same and a[1] == b[1] else 1


if __name__ == "__main__":
    sys.exit(main())
