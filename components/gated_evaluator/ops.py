"""Pure steps of the GatedEvaluator beyond TFX's: per-class metrics sized to the
data's classes, and the TFLite accuracy gate."""

from __future__ import annotations

import json
import posixpath
from typing import Any

import tensorflow as tf
import tensorflow_model_analysis as tfma

from contracts import features
from models.cnn import tflite_export

TFLITE_GATE_FILE = "tflite_gate.json"  # written into the evaluation artifact
TOP_K_METRIC = "SparseTopKCategoricalAccuracy"


def count_classes(examples_uri: str) -> int:
    """Number of classes: lines of ImageExampleGen's label vocabulary at the Examples root."""
    path = posixpath.join(examples_uri, features.LABEL_VOCAB_FILENAME)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"{path}: no label vocabulary; the GatedEvaluator needs ImageExampleGen's examples "
            "to size the per-class metrics"
        )
    with tf.io.gfile.GFile(path) as f:
        return sum(1 for line in f if line.strip())


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


def write_gate(evaluation_uri: str, verdict: dict[str, Any]) -> str:
    """Writes the verdict into the evaluation artifact; returns the file's path."""
    path = posixpath.join(evaluation_uri, TFLITE_GATE_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(verdict, f, indent=2, sort_keys=True)
    return path


def read_gate(evaluation_uri: str) -> dict[str, Any] | None:
    """The TFLite verdict of an evaluation, or None when the model had no TFLite export."""
    path = posixpath.join(evaluation_uri, TFLITE_GATE_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
