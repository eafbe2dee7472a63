"""Provenance that travels with a pushed model: `assets.extra/vrl_provenance.json`.

The pusher gathers it from its input artifacts (their custom properties and
files) and writes it into the staged copy before the rename, so a version is
never visible without it. TF Serving ignores unknown files in `assets.extra/`.
Readers need nothing but the version folder: no ML Metadata, no TensorFlow
(`read_provenance` takes a plain local path; `summary_line` is pure).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from collections.abc import Mapping
from typing import Any

from contracts.serving_base import PROVENANCE_FILE

SCHEMA_VERSION = 1
PACKAGE_NAME = "vision-rl-pipeline"


def code_version() -> dict[str, str | None]:
    """This package's version and, when the code runs from a git checkout, its commit."""
    from importlib import metadata

    try:
        package = metadata.version(PACKAGE_NAME)
    except metadata.PackageNotFoundError:
        package = None
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return {"package": PACKAGE_NAME, "package_version": package, "git_commit": git_commit(root)}


def git_commit(root: str) -> str | None:
    """The commit checked out at `root`, or None when `root` is not the top of a git
    checkout. `.git` is a folder in a clone and a file in a worktree or submodule."""
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        out = subprocess.run(
            ["git", "-C", root, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None  # no git binary in a serving or pipeline image: unknown, not an error
    return out.stdout.strip() or None


def data_section(
    examples_props: Mapping[str, Any] | None,
    ingest: Mapping[str, Any] | None,
    record_files_per_split: Mapping[str, int] | None = None,
) -> dict[str, Any] | None:
    """Input span, version, fingerprint and counts from the Examples artifact's
    custom properties and ImageExampleGen's ingest report (either may be absent)."""
    if not examples_props and not ingest:
        return None
    props = dict(examples_props or {})
    ingest = dict(ingest or {})

    def pick(name: str) -> Any:
        value = props.get(name)
        return ingest.get(name) if value in (None, "") else value

    return {
        "span": pick("span"),
        "version": pick("version"),
        "input_fingerprint": pick("input_fingerprint"),
        "examples_uri": props.get("uri"),
        "files_seen": pick("files_seen"),
        "files_seen_per_input_pattern": ingest.get("seen_per_input_pattern"),
        "examples_written": pick("examples_written"),
        "examples_per_split": ingest.get("examples_per_split"),
        "examples_per_split_class": ingest.get("examples_per_split_class"),
        "record_files_per_split": dict(record_files_per_split or {}) or None,
        "quarantined": pick("quarantined"),
        "quarantined_per_reason": ingest.get("quarantined_per_reason"),
    }


def tfma_thresholds(eval_run: Mapping[str, Any] | None) -> dict[str, Any]:
    """The bounds a TFMA evaluation applied, from its `eval_config.json` (the JSON of
    TFMA's EvalRun): `min_<metric>` for a value lower bound, `max_<metric>` for an
    upper one, `max_<metric>_drop` for an absolute change threshold, and `slices`:
    the slices every bound is checked on (a metric threshold applies to each).
    """
    config = (eval_run or {}).get("evalConfig") or {}
    out: dict[str, Any] = {}
    for spec in config.get("metricsSpecs") or []:
        for metric in spec.get("metrics") or []:
            threshold = metric.get("threshold") or {}
            name = _metric_name(metric)
            value = threshold.get("valueThreshold") or {}
            if "lowerBound" in value:
                out[f"min_{name}"] = value["lowerBound"]
            if "upperBound" in value:
                out[f"max_{name}"] = value["upperBound"]
            change = threshold.get("changeThreshold") or {}
            if "absolute" in change:
                out[f"max_{name}_drop"] = -change["absolute"]
    if out:
        out["slices"] = [_slice_name(s) for s in config.get("slicingSpecs") or [{}]]
    return out


def _metric_name(metric: Mapping[str, Any]) -> str:
    """`accuracy` for SparseCategoricalAccuracy, else TFMA's class name in snake case."""
    configured = json.loads(metric.get("config") or "{}").get("name")
    if configured:
        return configured
    name = metric.get("className", "metric")
    name = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return name.replace("sparse_categorical_", "").replace("categorical_", "")


def _slice_name(spec: Mapping[str, Any]) -> str:
    keys = spec.get("featureKeys") or []
    return f"each {', '.join(keys)}" if keys else "overall"


def policy_thresholds(report: dict[str, Any]) -> dict[str, Any]:
    """The bounds a PolicyEvaluator applied, from its report."""
    out = {"min_mean_return": report.get("threshold")}
    if report.get("random_mean_return") is not None:  # a policy must beat a random one
        out["above_random_mean_return"] = report["random_mean_return"]
    if report.get("baseline_mean_return") is not None:
        out["max_regression_vs_served"] = report.get("max_regression")
    return {k: v for k, v in out.items() if v is not None}


def thresholds_text(thresholds: Mapping[str, Any] | None) -> str:
    """`min accuracy 0.9, max accuracy drop 0.01 (overall and each label_name)`, or ''."""
    if not thresholds:
        return ""
    bounds = [
        f"{name.replace('_', ' ')} {_fmt(value, 6)}"
        for name, value in thresholds.items()
        if name != "slices" and value is not None
    ]
    slices = thresholds.get("slices")
    where = f" ({' and '.join(slices)})" if slices and slices != ["overall"] else ""
    return ", ".join(bounds) + where if bounds else ""


def build(
    *,
    model_name: str,
    version: int,
    kind: str,
    pipeline: Mapping[str, Any],
    data: Mapping[str, Any] | None,
    trainer: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
    evaluation: Mapping[str, Any],
    code: Mapping[str, Any] | None = None,
    pushed_at: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The provenance document (plain JSON values only)."""
    pushed_at = pushed_at or datetime.datetime.now(datetime.timezone.utc)
    return {
        "schema_version": SCHEMA_VERSION,
        "model_name": model_name,
        "version": int(version),
        "kind": kind,
        "pushed_at": pushed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pipeline": dict(pipeline),
        "data": dict(data) if data else None,
        "trainer": dict(trainer) if trainer else None,
        "metrics": dict(metrics) if metrics else None,
        "evaluation": dict(evaluation),
        "code": dict(code) if code is not None else code_version(),
    }


def to_json(provenance: Mapping[str, Any]) -> str:
    """Stable, human-readable serialisation."""
    return json.dumps(provenance, indent=2, sort_keys=True, default=str) + "\n"


def read_provenance(version_dir: str) -> dict[str, Any] | None:
    """A local version folder's provenance, or None when it has none (pushed by
    another tool or before provenance existed)."""
    path = os.path.join(version_dir, PROVENANCE_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e}); the file is corrupt") from e


def _fmt(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _metric_text(metric: str, value: Any, sign: str = "") -> str:
    """A metric as the run summaries print it: returns to 0.1, accuracies to 0.0001
    (`accuracy 1.0000`, `mean_return 500.0`, not `.4g`'s `1` and `500`)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "?"
    digits = 1 if "return" in metric else 4
    return f"{value:{sign}.{digits}f}"


def summary_line(provenance: Mapping[str, Any] | None) -> str:
    """One line: span, push date, accuracy or mean return, baseline delta, decision."""
    if not provenance:
        return "no provenance"
    parts = []
    data = provenance.get("data") or {}
    if data.get("span") is not None:
        parts.append(f"span {data['span']}")
    if provenance.get("pushed_at"):
        parts.append(f"pushed {provenance['pushed_at']}")
    evaluation = provenance.get("evaluation") or {}
    metric = evaluation.get("metric")
    value = evaluation.get("value")
    if metric and value is not None:
        parts.append(f"{metric} {_metric_text(metric, value)}")
    baseline = evaluation.get("baseline") or {}
    if baseline.get("version") is not None:
        shown = _metric_text(metric or "", evaluation.get("delta"), sign="+")
        parts.append(f"vs v{baseline['version']} {shown}")
    else:
        parts.append("no baseline")
    blessed = evaluation.get("blessed")
    decision = "blessed" if blessed else "NOT blessed" if blessed is not None else "unevaluated"
    bounds = thresholds_text(evaluation.get("thresholds"))
    parts.append(f"{decision} under {bounds}" if bounds else decision)
    commit = (provenance.get("code") or {}).get("git_commit")
    if commit:
        parts.append(f"code {commit[:8]}")
    return ", ".join(parts)
