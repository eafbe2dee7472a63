"""Reads what a local pipeline run produced from its ML Metadata store."""

from __future__ import annotations

import dataclasses
import json
import os
import re

from components.span_drift.verdict import drift_line
from contracts.features import LABEL_VOCAB_FILENAME
from contracts.files import IMAGE_CHECKS_FILE, INGEST_REPORT_FILE, SPAN_DRIFT_FILE
from contracts.serving_base import ALREADY_SERVED_PROPERTY
from vrl.mlmd import open_store


@dataclasses.dataclass
class RunSummary:
    """The facts a person wants after a run."""

    pushed: bool | None = None
    pushed_path: str | None = None
    already_served: bool = False
    """The run's model was identical to the served `pushed_path`: nothing was written."""
    blessed: bool | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    per_class: dict[str, float] = dataclasses.field(default_factory=dict)
    ingest: dict | None = None
    data_issues: list[dict] = dataclasses.field(default_factory=list)
    evaluation_uri: str | None = None
    per_class_precision_recall: dict[str, dict[str, float]] = dataclasses.field(
        default_factory=dict
    )
    """TFMA's per-class precision and recall, by class name."""
    confusion_matrix: list[list[int]] | None = None
    """TFMA's multi-class confusion matrix (rows true, columns predicted class id)."""
    not_blessed_reason: str | None = None
    """Why the Evaluator did not bless: the TFLite gate's reason or TFMA's failed thresholds."""
    tflite: dict | None = None
    """The TFLite gate's verdict (accuracies, drop, maximum) when the run exported TFLite."""
    error_analysis_dir: str | None = None
    """The trainer's error analysis (JSON and PNGs) of the evaluated model."""
    span_drift: dict | None = None
    """SpanDrift's verdict: the span compared with, the drifted features, halted or not."""


def latest_artifact(store, type_name: str):
    """The most recently created LIVE artifact of a type, or None."""
    arts = [a for a in store.get_artifacts_by_type(type_name) if a.state == a.LIVE]
    return max(arts, key=lambda a: (a.create_time_since_epoch, a.id)) if arts else None


def custom_property(artifact, name: str):
    """An artifact's custom property value, or None if it has none."""
    if name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return value.WhichOneof("value") and getattr(value, value.WhichOneof("value"))


def _doubles(sub: dict) -> dict[str, float]:
    return {name: float(v["doubleValue"]) for name, v in sub.items() if "doubleValue" in v}


def read_eval_metrics(evaluation_uri: str) -> tuple[dict[str, float], dict[str, float]]:
    """Overall metrics and per-class accuracy from a TFMA ModelEvaluation artifact
    (metrics without a sub key: per-class precision/recall are read by `read_class_metrics`)."""
    from components.atomic_pusher.gather import load_candidate_result  # imports TensorFlow

    result = load_candidate_result(evaluation_uri)
    overall: dict[str, float] = {}
    per_class: dict[str, float] = {}
    for slice_key, metrics in result.slicing_metrics:
        values = {}
        for output in metrics.values():
            values.update(_doubles(output.get("", {})))
        if not slice_key:
            overall = values
        elif "sparse_categorical_accuracy" in values:
            per_class[str(slice_key[0][1])] = values["sparse_categorical_accuracy"]
    return overall, per_class


def read_class_metrics(
    evaluation_uri: str,
) -> tuple[dict[int, dict[str, float]], list[list[int]] | None]:
    """TFMA's per-class precision/recall by class id (overall slice) and its
    multi-class confusion matrix (rows true, columns predicted), if computed."""
    from components.atomic_pusher.gather import load_candidate_result  # imports TensorFlow

    result = load_candidate_result(evaluation_uri)
    by_class: dict[int, dict[str, float]] = {}
    for slice_key, metrics in result.slicing_metrics:
        if slice_key:
            continue
        for output in metrics.values():
            for sub_key, sub in output.items():
                match = re.match(r"classId:(\d+)", sub_key)
                if match:
                    by_class.setdefault(int(match.group(1)), {}).update(_doubles(sub))
    entries = []
    for slice_key, plots in result.plots:
        if not slice_key:
            for output in plots.values():
                for sub in output.values():
                    for matrix in sub.get("multiClassConfusionMatrixAtThresholds", {}).get(
                        "matrices", []
                    )[:1]:
                        entries = matrix.get("entries", [])
    if not entries:
        return by_class, None
    k = 1 + max(max(e.get("actualClassId", 0), e.get("predictedClassId", 0)) for e in entries)
    k = max(k, len(by_class))
    confusion = [[0] * k for _ in range(k)]
    for e in entries:
        predicted = e.get("predictedClassId", 0)
        if predicted >= 0:  # -1: no class above the threshold (none at threshold 0)
            confusion[e.get("actualClassId", 0)][predicted] += int(e.get("numWeightedExamples", 0))
    return by_class, confusion


def label_names(examples_uri: str) -> list[str]:
    """ImageExampleGen's label vocabulary (class id = line), empty if absent."""
    path = os.path.join(examples_uri, LABEL_VOCAB_FILENAME)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def _error_analysis(store, summary: RunSummary) -> None:
    """Per-class TFMA metrics, the TFLite verdict, the not-blessed reason and the
    trainer's error-analysis folder of the newest evaluation."""
    from components.atomic_pusher.gather import tfma_failures
    from components.gated_evaluator.ops import read_gate
    from models.cnn.error_analysis import OUTPUT_DIR

    by_class, summary.confusion_matrix = read_class_metrics(summary.evaluation_uri)
    examples = latest_artifact(store, "Examples")
    names = label_names(examples.uri) if examples is not None else []
    summary.per_class_precision_recall = {
        (names[i] if i < len(names) else str(i)): values for i, values in sorted(by_class.items())
    }
    summary.tflite = read_gate(summary.evaluation_uri)
    if summary.blessed is False:
        if summary.tflite and not summary.tflite.get("passed"):
            summary.not_blessed_reason = summary.tflite.get("reason")
        else:
            failures = tfma_failures(summary.evaluation_uri)
            summary.not_blessed_reason = "; ".join(failures) or None
    model_run = latest_artifact(store, "ModelRun")
    if model_run is not None and os.path.isdir(os.path.join(model_run.uri, OUTPUT_DIR)):
        summary.error_analysis_dir = os.path.join(model_run.uri, OUTPUT_DIR)


def summarize(pipeline_root: str, ingest_report_name: str = INGEST_REPORT_FILE) -> RunSummary:
    """Latest push, blessing, evaluation and ingest report of a pipeline."""
    from vrl.runner import metadata_path

    path = metadata_path(pipeline_root)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no ML Metadata store; has the pipeline run?")
    store = open_store(path)
    summary = RunSummary()
    pushed = latest_artifact(store, "PushedModel")
    if pushed is not None:
        summary.pushed = bool(custom_property(pushed, "pushed"))
        summary.pushed_path = custom_property(pushed, "pushed_destination") or None
        summary.already_served = custom_property(pushed, ALREADY_SERVED_PROPERTY) == 1
    blessing = latest_artifact(store, "ModelBlessing")
    if blessing is not None:
        summary.blessed = bool(custom_property(blessing, "blessed"))
    evaluation = latest_artifact(store, "ModelEvaluation")
    if evaluation is not None:
        summary.evaluation_uri = evaluation.uri
        summary.metrics, summary.per_class = read_eval_metrics(evaluation.uri)
        _error_analysis(store, summary)
    from components.image_example_gen.spec import QuarantineReport

    checks = _newest_with_file(store, IMAGE_CHECKS_FILE)
    if checks:
        summary.data_issues = checks.get("issues", [])
    summary.span_drift = _newest_with_file(store, SPAN_DRIFT_FILE)
    quarantine = latest_artifact(store, QuarantineReport.TYPE_NAME)
    if quarantine is not None:
        report = os.path.join(quarantine.uri, ingest_report_name)
        if os.path.exists(report):
            with open(report) as f:
                summary.ingest = json.load(f)
    return summary


def _newest_with_file(store, name: str) -> dict | None:
    """The JSON file `name` of the newest live ExampleAnomalies artifact holding one."""
    found = [
        a
        for a in store.get_artifacts_by_type("ExampleAnomalies")
        if a.state == a.LIVE and os.path.exists(os.path.join(a.uri, name))
    ]
    if not found:
        return None
    newest = max(found, key=lambda a: (a.create_time_since_epoch, a.id))
    with open(os.path.join(newest.uri, name)) as f:
        return json.load(f)


def span_drift_line(verdict: dict | None) -> str | None:
    """One line on SpanDrift's verdict for the run's summary (None: not in this run)."""
    if verdict is None:
        return None
    compared = verdict.get("compared_with") or {}
    if "why" in compared:
        return f"span drift: not checked ({compared['why']})"
    drifted = verdict.get("drifted") or []
    against = f"against span {compared.get('span')} (the served model's)"
    if not drifted:
        return f"span drift: none {against}"
    names = drift_line(drifted)
    then = "the run stopped" if verdict.get("halted") else "training went on"
    return f"span drift {against}: {names}; {then} (--halt-on-span-drift stops it)"


def error_analysis_lines(summary: RunSummary) -> list[str]:
    """What the command line prints about errors: top-k, per-class precision/recall
    (TFMA), the TFLite check, why not blessed, and where the pictures are."""
    lines = []
    top_k = {k: v for k, v in summary.metrics.items() if re.fullmatch(r"top_\d+_accuracy", k)}
    if top_k:
        lines.append(
            "top-k accuracy: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(top_k.items()))
        )
    if summary.per_class_precision_recall:
        lines.append(f"  {'class':>12}  accuracy  precision  recall")
        for name, values in summary.per_class_precision_recall.items():
            accuracy = summary.per_class.get(name)
            lines.append(
                f"  {name:>12}  {_num(accuracy):>8}  {_num(values.get('precision')):>9}"
                f"  {_num(values.get('recall')):>6}"
            )
    if summary.tflite:
        t = summary.tflite
        lines.append(
            f"TFLite ({t.get('quantization')}, {_num(t.get('tflite_bytes'), 'bytes')}): eval accuracy "
            f"{_num(t.get('tflite_accuracy'))} vs SavedModel {_num(t.get('saved_model_accuracy'))}, "
            f"drop {_num(t.get('accuracy_drop'))} (max {_num(t.get('max_drop'))}): "
            + ("passed" if t.get("passed") else "FAILED")
        )
    if summary.not_blessed_reason:
        lines.append(f"not blessed because: {summary.not_blessed_reason}")
    if summary.error_analysis_dir:
        from models.cnn import error_analysis as ea

        lines.append(f"error analysis: {summary.error_analysis_dir}")
        lines.append(f"  {ea.CONFUSION_PNG}, {ea.WRONG_PNG}, {ea.REPORT_JSON}")
    return lines


def _num(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "bytes":
        return f"{value / 1024:.0f} KiB"
    return f"{value:.4f}"
