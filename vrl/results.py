"""Reads what a local pipeline run produced from its ML Metadata store."""

from __future__ import annotations

import dataclasses
import json
import os

from components.image_checks.keys import REPORT_FILE as IMAGE_CHECKS_REPORT


@dataclasses.dataclass
class RunSummary:
    """The facts a person wants after a run."""

    pushed: bool | None = None
    pushed_path: str | None = None
    blessed: bool | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    per_class: dict[str, float] = dataclasses.field(default_factory=dict)
    ingest: dict | None = None
    data_issues: list[dict] = dataclasses.field(default_factory=list)
    evaluation_uri: str | None = None


def open_store(metadata_path: str):
    """Read-only ML Metadata store over a local SQLite file."""
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = metadata_path
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return mlmd.MetadataStore(cfg)


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


def read_eval_metrics(evaluation_uri: str) -> tuple[dict[str, float], dict[str, float]]:
    """Overall metrics and per-class accuracy from a TFMA ModelEvaluation artifact."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(evaluation_uri)
    overall: dict[str, float] = {}
    per_class: dict[str, float] = {}
    for slice_key, metrics in result.slicing_metrics:
        values = {}
        for output in metrics.values():
            for sub in output.values():
                for name, v in sub.items():
                    if "doubleValue" in v:
                        values[name] = float(v["doubleValue"])
        if not slice_key:
            overall = values
        elif "sparse_categorical_accuracy" in values:
            per_class[str(slice_key[0][1])] = values["sparse_categorical_accuracy"]
    return overall, per_class


def summarize(pipeline_root: str, ingest_report_name: str = "ingest_report.json") -> RunSummary:
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
    blessing = latest_artifact(store, "ModelBlessing")
    if blessing is not None:
        summary.blessed = bool(custom_property(blessing, "blessed"))
    evaluation = latest_artifact(store, "ModelEvaluation")
    if evaluation is not None:
        summary.evaluation_uri = evaluation.uri
        summary.metrics, summary.per_class = read_eval_metrics(evaluation.uri)
    from components.image_example_gen.spec import QuarantineReport

    checks = [
        a
        for a in store.get_artifacts_by_type("ExampleAnomalies")
        if a.state == a.LIVE and os.path.exists(os.path.join(a.uri, IMAGE_CHECKS_REPORT))
    ]
    if checks:
        newest = max(checks, key=lambda a: (a.create_time_since_epoch, a.id))
        with open(os.path.join(newest.uri, IMAGE_CHECKS_REPORT)) as f:
            summary.data_issues = json.load(f).get("issues", [])
    quarantine = latest_artifact(store, QuarantineReport.TYPE_NAME)
    if quarantine is not None:
        report = os.path.join(quarantine.uri, ingest_report_name)
        if os.path.exists(report):
            with open(report) as f:
                summary.ingest = json.load(f)
    return summary
