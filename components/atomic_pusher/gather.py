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
from tfx.utils import path_utils

from components.atomic_pusher.provenance import policy_thresholds, tfma_thresholds
from components.gated_evaluator.ops import TFLITE_GATE_FILE
from contracts.files import POLICY_REPORT_FILE, TRAINING_REPORT_FILE, TRAINING_SUMMARY_FILE
from contracts.serving_base import PROVENANCE_FILE, PUSH_MARKER_FILE

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
    for name in artifact.mlmd_artifact.custom_properties:
        value = artifact.get_custom_property(name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Kubeflow stores every number as a double
        out[name] = value if isinstance(value, (int, float, str)) else str(value)
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


def tfma_failures(evaluation_uri: str) -> list[str]:
    """Human-readable failed thresholds of a TFMA validation, empty when it passed."""
    import tensorflow_model_analysis as tfma

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
            needs = _bound_text(failure.metric_threshold, failure.metric_key.is_diff)
            failures.append(f"{name} ({kind}) = {value:.4g} on {where}{needs}")
    # The overall slice first: it is the one a person checks before the classes.
    return sorted(failures, key=lambda f: " on overall" not in f)


def _bound_text(threshold, is_diff: bool) -> str:
    """`, needs >= 0.9` from the MetricThreshold a failure names ('' if it names none)."""
    if is_diff:
        change = threshold.change_threshold
        bounds = [(">=", change.absolute.value)] if change.HasField("absolute") else []
    else:
        value = threshold.value_threshold
        bounds = [(">=", value.lower_bound.value)] if value.HasField("lower_bound") else []
        if value.HasField("upper_bound"):
            bounds.append(("<=", value.upper_bound.value))
    return "".join(f", needs {op} {bound:.4g}" for op, bound in bounds)


def _slice_text(slice_key) -> str:
    """`label_name=square`, or `overall` for the empty slice."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        value = value.decode() if isinstance(value, bytes) else value
        parts.append(f"{single.column}={value}")
    return ", ".join(parts) or "overall"


def baseline(baseline_uri: str | None) -> dict[str, Any] | None:
    """The served version the candidate was compared with: its version and provenance."""
    if not baseline_uri:
        return None
    served = path_utils.serving_model_dir(baseline_uri)  # ServedBaseline's copy
    marker = read_json(posixpath.join(served, PUSH_MARKER_FILE))
    prior = read_json(posixpath.join(served, PROVENANCE_FILE))
    if marker is None and prior is None:
        return None
    version = (marker or {}).get("version", (prior or {}).get("version"))
    prior_eval = (prior or {}).get("evaluation") or {}
    return {
        "version": version,
        "metric": prior_eval.get("metric"),
        "value_at_its_push": prior_eval.get("value"),
        "span": ((prior or {}).get("data") or {}).get("span"),
    }


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
