"""Reads what the pusher's input artifacts know about a model, for its provenance.

Only artifact custom properties and files are used (no ML Metadata queries:
on Kubeflow an executor has no store connection). Every reader returns None
or an empty dict when its artifact or file is absent, since the inputs other
than model and blessing are optional; a present but corrupt file raises.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

import tensorflow as tf

from components.atomic_pusher.provenance import policy_thresholds, tfma_thresholds
from components.gated_evaluator.ops import TFLITE_GATE_FILE, tfma_failures
from components.served_baseline.executor import describe
from contracts.files import (
    BASELINE_FILE,
    POLICY_REPORT_FILE,
    TRAINING_REPORT_FILE,
    TRAINING_SUMMARY_FILE,
)

EVAL_CONFIG_FILE = "eval_config.json"  # TFMA's own: its EvalRun in the evaluation artifact
_ACCURACY = "sparse_categorical_accuracy"


def read_json(path: str) -> Any | None:
    """JSON file through gfile, or None if it does not exist."""
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e


def custom_properties(artifact) -> dict[str, Any]:
    """An artifact's custom properties as plain values, plus its uri.

    Through TFX's accessor, so values that Kubeflow hands over as structs
    (its artifact metadata) read the same as the local runner's ints and strings.
    """
    out: dict[str, Any] = {"uri": artifact.uri}
    for name, mlmd_value in artifact.mlmd_artifact.custom_properties.items():
        if mlmd_value.HasField("struct_value"):
            # Kubeflow's form. TFX's get_custom_property reads a falsy one (a
            # count of 0) as None, so the struct is read by its JSON accessor.
            value = artifact.get_json_value_custom_property(name)
        else:
            value = artifact.get_custom_property(name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Kubeflow stores every number as a double
        plain = value is None or isinstance(value, (int, float, str, list, dict))
        out[name] = value if plain else str(value)
    return out


def record_files_per_split(examples_uri: str) -> dict[str, int]:
    """Number of record files under each `Split-<name>/` of an Examples artifact."""
    counts = {}
    for name in tf.io.gfile.listdir(examples_uri) if tf.io.gfile.isdir(examples_uri) else []:
        name = name.rstrip("/")
        if name.startswith("Split-"):
            files = tf.io.gfile.glob(posixpath.join(examples_uri, name, "*"))
            counts[name[len("Split-") :]] = len(files)
    return counts


def cnn_training(model_run_uri: str | None) -> tuple[dict | None, dict | None]:
    """(trainer config, training metrics) from the CNN's training_report.json."""
    if not model_run_uri:
        return None, None
    report = read_json(posixpath.join(model_run_uri, TRAINING_REPORT_FILE))
    if not report:
        return None, None
    summary = report.get("summary", report)
    config = summary.get("config")
    keys = ("train_accuracy", "train_loss", "eval_accuracy", "eval_loss", "epochs_run")
    keys += ("best_epoch", "train_examples", "num_classes")
    return config, {k: summary[k] for k in keys if k in summary}


def dqn_training(model_uri: str) -> tuple[dict | None, dict | None]:
    """(trainer config with env and seed, training metrics) from DqnTrainer's summary."""
    summary = read_json(posixpath.join(model_uri, TRAINING_SUMMARY_FILE))
    if not summary:
        return None, None
    config = dict(summary.get("config") or {})
    config.update(env_id=summary.get("env_id"), seed=summary.get("seed"))
    metrics = {k: v for k, v in summary.items() if k not in ("config", "env_id", "seed")}
    return config, metrics


def tfma_metrics(evaluation_uri: str) -> tuple[dict, dict, dict]:
    """(candidate overall, per-class accuracy, diff vs baseline) from a TFMA evaluation."""
    return _split_metrics(load_candidate_result(evaluation_uri).slicing_metrics)


def load_candidate_result(evaluation_uri: str):
    """TFMA's EvalResult of the evaluated model.

    With a baseline TFMA names the models "candidate" and "baseline"; without one
    the results carry no model name, and asking for "candidate" would log "Fail to
    find plots for model name" once per slice.
    """
    import tensorflow_model_analysis as tfma

    eval_run = read_json(posixpath.join(evaluation_uri, EVAL_CONFIG_FILE)) or {}
    specs = (eval_run.get("evalConfig") or {}).get("modelSpecs") or []
    baseline = any(spec.get("isBaseline") for spec in specs)
    return tfma.load_eval_result(evaluation_uri, model_name="candidate" if baseline else None)


def _split_metrics(slicing_metrics) -> tuple[dict, dict, dict]:
    overall: dict[str, float] = {}
    per_class: dict[str, float] = {}
    diff: dict[str, float] = {}
    for slice_key, metrics in slicing_metrics:
        values: dict[str, float] = {}
        changes: dict[str, float] = {}
        for output in metrics.values():
            # Without a sub key only: per-class metrics ("classId:3 topK:1") reuse the names.
            for name, v in output.get("", {}).items():
                if isinstance(v, dict) and "doubleValue" in v:
                    values[name] = float(v["doubleValue"])
                elif isinstance(v, (int, float)):
                    values[name] = float(v)
                if isinstance(v, dict) and "diff" in name.lower():
                    changes[name] = float(v.get("doubleValue", 0.0))
        if not slice_key:
            overall = {k: v for k, v in values.items() if "diff" not in k.lower()}
            diff = changes or {k: v for k, v in values.items() if "diff" in k.lower()}
        elif _ACCURACY in values:
            per_class[str(slice_key[0][1])] = values[_ACCURACY]
    return overall, per_class, diff


def evaluation_thresholds(evaluation_uri: str) -> dict[str, Any]:
    """The bounds an evaluation applied: TFMA's (as the GatedEvaluator set them at run
    time) and the TFLite gate's maximum accuracy drop, when it ran."""
    out = tfma_thresholds(read_json(posixpath.join(evaluation_uri, EVAL_CONFIG_FILE)))
    gate = read_json(posixpath.join(evaluation_uri, TFLITE_GATE_FILE))
    if gate and gate.get("max_drop") is not None:
        out["tflite_max_accuracy_drop"] = gate["max_drop"]
    return out


def baseline(baseline_uri: str | None, evaluation_uri: str | None = None) -> dict[str, Any] | None:
    """The served version the candidate was compared with, as its evaluator recorded
    it in the evaluation (else read from the baseline artifact the blessing names)."""
    if evaluation_uri:
        recorded = read_json(posixpath.join(evaluation_uri, BASELINE_FILE))
        if recorded is not None:
            return recorded
    return describe(baseline_uri)


def tfma_evaluation(
    evaluation_uri: str | None, baseline: dict | None, blessed: bool = True
) -> dict[str, Any]:
    """Accuracy overall and per class, the bounds applied, the change against the
    baseline, the decision (the pusher writes provenance only for a blessed model)."""
    section: dict[str, Any] = {
        "metric": "accuracy",
        "value": None,
        "blessed": blessed,
        "baseline": baseline,
        "evaluation_uri": evaluation_uri,
    }
    if evaluation_uri is None:
        return section
    overall, per_class, diff = tfma_metrics(evaluation_uri)
    section.update(
        value=overall.get("sparse_categorical_accuracy"),
        overall=overall,
        per_class_accuracy=per_class,
        failed_thresholds=tfma_failures(evaluation_uri),
        thresholds=evaluation_thresholds(evaluation_uri),
    )
    change = next((v for k, v in diff.items() if "accuracy" in k), None)
    if change is None and baseline and baseline.get("value_at_its_push") is not None:
        if section["value"] is not None:
            change = section["value"] - baseline["value_at_its_push"]
    section["delta"] = change
    return section


def policy_evaluation(
    evaluation_uri: str | None, blessing_props: dict, baseline: dict | None, blessed: bool = True
) -> dict[str, Any]:
    """Return statistics of the greedy episodes, the bounds applied, the baseline's
    mean, the decision (the pusher writes provenance only for a blessed model)."""
    report = (
        read_json(posixpath.join(evaluation_uri, POLICY_REPORT_FILE)) if evaluation_uri else None
    ) or {}
    mean = report.get("mean_return", blessing_props.get("mean_return"))
    base_mean = report.get("baseline_mean_return")
    returns = report.get("returns") or []
    return {
        "metric": "mean_return",
        "value": mean,
        "std_return": report.get("std_return", blessing_props.get("std_return")),
        "min_return": min(returns) if returns else None,
        "max_return": max(returns) if returns else None,
        "episodes": len(returns) or None,
        "threshold": report.get("threshold"),
        "thresholds": policy_thresholds(report),
        "baseline": {**(baseline or {}), "mean_return": base_mean} if baseline else None,
        "delta": (mean - base_mean) if mean is not None and base_mean is not None else None,
        "blessed": blessed,
        "reason": report.get("reason"),
        "evaluation_uri": evaluation_uri,
    }
