"""Pure steps of the GatedEvaluator beyond TFX's: per-class metrics sized to the
data's classes, the one-class gate (TFMA's confusion matrix of the candidate)
and the TFLite accuracy gate."""

from __future__ import annotations

import json
import posixpath
from typing import Any

import tensorflow as tf
import tensorflow_model_analysis as tfma

from contracts import features
from models.cnn import tflite_export

TFLITE_GATE_FILE = "tflite_gate.json"  # written into the evaluation artifact
CLASS_GATE_FILE = "class_gate.json"  # likewise, the one-class gate's verdict
TOP_K_METRIC = "SparseTopKCategoricalAccuracy"


def label_names(examples_uri: str) -> list[str]:
    """Class names, one per line of ImageExampleGen's label vocabulary at the Examples root."""
    path = posixpath.join(examples_uri, features.LABEL_VOCAB_FILENAME)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"{path}: no label vocabulary; the GatedEvaluator needs ImageExampleGen's examples "
            "to size the per-class metrics"
        )
    with tf.io.gfile.GFile(path) as f:
        return [line.strip() for line in f if line.strip()]


def count_classes(examples_uri: str) -> int:
    """Number of classes: lines of ImageExampleGen's label vocabulary at the Examples root."""
    return len(label_names(examples_uri))


def top_k_of(metric: tfma.MetricConfig) -> int | None:
    """k of a top-k accuracy metric config, None for any other metric."""
    if metric.class_name != TOP_K_METRIC:
        return None
    return int(json.loads(metric.config or "{}").get("k", 5))


def size_to_classes(eval_config: tfma.EvalConfig, num_classes: int) -> tfma.EvalConfig:
    """A copy whose per-class metric specs cover classes 0..K-1 and without the
    top-k accuracies with k >= K (always 1.0).

    A MetricsSpec asks for per-class metrics by carrying an empty `binarize`
    (the pipeline is wired before the number of classes is known).
    """
    if num_classes < 2:
        raise ValueError(f"need at least 2 classes to evaluate a classifier, got {num_classes}")
    config = tfma.EvalConfig()
    config.CopyFrom(eval_config)
    for spec in config.metrics_specs:
        if spec.HasField("binarize") and not spec.binarize.class_ids.values:
            spec.binarize.class_ids.values.extend(range(num_classes))
        kept = [m for m in spec.metrics if (top_k_of(m) or 0) < num_classes]
        del spec.metrics[:]
        spec.metrics.extend(kept)
    return config


def predicted_class_counts(evaluation_uri: str) -> dict[int, float] | None:
    """Eval examples per class the candidate predicts (its top class), from TFMA's
    MultiClassConfusionMatrixPlot on the overall slice; None when TFMA wrote none."""
    for plots in tfma.load_plots(evaluation_uri):
        if plots.slice_key.single_slice_keys or plots.HasField("cross_slice_key"):
            continue
        for item in plots.plot_keys_and_values:
            if item.key.model_name == tfma.BASELINE_KEY:
                continue
            matrices = item.value.multi_class_confusion_matrix_at_thresholds.matrices
            if not matrices:
                continue
            counts: dict[int, float] = {}
            for entry in matrices[0].entries:
                if entry.predicted_class_id >= 0:  # -1: below the threshold (none at 0)
                    counts[entry.predicted_class_id] = (
                        counts.get(entry.predicted_class_id, 0.0) + entry.num_weighted_examples
                    )
            return counts
    return None


def class_gate(counts: dict[int, float] | None, names: list[str]) -> dict[str, Any] | None:
    """The one-class gate's verdict: a candidate whose eval predictions are all one
    class of several is refused, whatever its accuracy. None without a confusion matrix."""
    if counts is None:
        return None
    predicted = sorted(c for c, n in counts.items() if n > 0)
    total = sum(counts.values())
    reason = None
    if len(names) >= 2 and len(predicted) == 1:
        only = names[predicted[0]] if predicted[0] < len(names) else str(predicted[0])
        reason = (
            f"the candidate predicts {only!r} for all {total:.0f} eval examples of "
            f"{len(names)} classes: a one-class model is never blessed"
        )
    return {
        "passed": reason is None,
        "reason": reason,
        "predicted_classes": [names[c] if c < len(names) else str(c) for c in predicted],
        "examples": total,
    }


def tflite_gate(serving_model_dir: str, max_drop: float) -> dict[str, Any] | None:
    """The TFLite gate's verdict for an exported model, or None when it has no TFLite export.

    The Trainer measured both accuracies on the eval split (tflite/report.json);
    the gate compares the drop with `max_drop`.
    """
    report = tflite_export.read_report(serving_model_dir)
    if report is None:
        return None
    reason = tflite_export.gate_reason(report, max_drop)
    return {
        "passed": reason is None,
        "reason": reason,
        "max_drop": max_drop,
        **{
            k: report.get(k)
            for k in (
                "quantization",
                "saved_model_accuracy",
                "tflite_accuracy",
                "accuracy_drop",
                "examples",
                "tflite_bytes",
            )
        },
    }


def write_gate(
    evaluation_uri: str, verdict: dict[str, Any], file_name: str = TFLITE_GATE_FILE
) -> str:
    """Writes a gate's verdict into the evaluation artifact; returns the file's path."""
    path = posixpath.join(evaluation_uri, file_name)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(verdict, f, indent=2, sort_keys=True)
    return path


def read_gate(evaluation_uri: str, file_name: str = TFLITE_GATE_FILE) -> dict[str, Any] | None:
    """A gate's verdict of an evaluation (by default the TFLite gate's), or None when
    that gate did not apply (no TFLite export; no confusion matrix)."""
    path = posixpath.join(evaluation_uri, file_name)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def tfma_failures(evaluation_uri: str) -> list[str]:
    """Each failed threshold of a TFMA validation in one line (metric, value or
    change, slice, bound and by how much it missed); empty when it passed."""
    try:
        validation = tfma.load_validation_result(evaluation_uri)
    except (OSError, ValueError, tf.errors.NotFoundError):
        return []
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        where = _slice_text(per_slice.slice_key)
        for failure in per_slice.failures:
            name = failure.metric_key.name
            kind = "change" if failure.metric_key.is_diff else "value"
            value = failure.metric_value.double_value.value
            needs = _bound_text(failure.metric_threshold, failure.metric_key.is_diff, value)
            failures.append(f"{name} ({kind}) = {value:.4g} on {where}{needs}")
    # The overall slice first: it is the one a person checks before the classes.
    return sorted(failures, key=lambda f: " on overall" not in f)


def _bound_text(threshold, is_diff: bool, value: float) -> str:
    """`, needs >= 0.9 (short by 0.15)` from the MetricThreshold a failure names
    ('' if it names none); only a missed bound gets its margin."""
    if is_diff:
        change = threshold.change_threshold
        bounds = [(">=", change.absolute.value)] if change.HasField("absolute") else []
    else:
        bound = threshold.value_threshold
        bounds = [(">=", bound.lower_bound.value)] if bound.HasField("lower_bound") else []
        if bound.HasField("upper_bound"):
            bounds.append(("<=", bound.upper_bound.value))
    parts = []
    for op, limit in bounds:
        missed = limit - value if op == ">=" else value - limit
        margin = f" ({'short' if op == '>=' else 'over'} by {missed:.4g})" if missed > 0 else ""
        parts.append(f", needs {op} {limit:.4g}{margin}")
    return "".join(parts)


def _slice_text(slice_key) -> str:
    """`label_name=square`, or `overall` for the empty slice."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        value = value.decode() if isinstance(value, bytes) else value
        parts.append(f"{single.column}={value}")
    return ", ".join(parts) or "overall"
