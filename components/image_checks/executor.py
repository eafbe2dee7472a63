"""ImageChecks executor: read example summaries, run ops.run_checks, write anomalies."""

from __future__ import annotations

import collections
import dataclasses
import gzip
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from absl import logging
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, writer_utils

from components.image_checks import keys, ops
from components.outputs import ensure_output_dirs
from contracts import features, files

SCHEMA_DIFF_FILE = "SchemaDiff.pb"  # same file name ExampleValidator writes


class ImageCheckFailure(ValueError):
    """Raised when anomalies were found and the pipeline is set to halt on them
    (a ValueError: the input data is what is wrong)."""


def read_split(split_dir: str) -> list[ops.ImageRecord]:
    """Reads the summary features (no pixels) of every example in a split folder."""
    import tensorflow as tf

    from models import tfdata

    files = sorted(fileio.glob(os.path.join(split_dir, "*")))
    if not files:
        raise FileNotFoundError(f"{split_dir}: no TFRecord files; expected ImageExampleGen output")
    spec = {
        features.LABEL_NAME_KEY: tf.io.FixedLenFeature([], tf.string),
        features.HEIGHT_KEY: tf.io.FixedLenFeature([], tf.int64),
        features.WIDTH_KEY: tf.io.FixedLenFeature([], tf.int64),
        features.CHANNELS_KEY: tf.io.FixedLenFeature([], tf.int64),
        features.SHA256_KEY: tf.io.FixedLenFeature([], tf.string),
    }
    compression = "GZIP" if files[0].endswith(".gz") else ""
    ds = tfdata.tfrecords(files, compression).batch(1024)
    records = []
    for batch in ds.map(lambda b: tf.io.parse_example(b, spec)):
        cols = {k: v.numpy() for k, v in batch.items()}
        for i in range(len(cols[features.SHA256_KEY])):
            records.append(
                ops.ImageRecord(
                    label_name=cols[features.LABEL_NAME_KEY][i].decode(),
                    height=int(cols[features.HEIGHT_KEY][i]),
                    width=int(cols[features.WIDTH_KEY][i]),
                    channels=int(cols[features.CHANNELS_KEY][i]),
                    sha256=cols[features.SHA256_KEY][i].decode(),
                )
            )
    return records


def read_sources(
    examples_uri: str, splits: Mapping[str, Sequence[ops.ImageRecord]]
) -> ops.Sources | None:
    """The files of every image that occurs more than once, from ImageExampleGen's
    example listing; None when the Examples have no listing (an older run, another
    ExampleGen), and the findings then name hashes only."""
    path = os.path.join(examples_uri, files.EXAMPLE_LISTING_FILE)
    if not fileio.exists(path):
        logging.info("ImageChecks: no %s in the Examples; findings name sha256 only", path)
        return None
    counts = collections.Counter(r.sha256 for records in splits.values() for r in records)
    wanted = {sha for sha, n in counts.items() if n > 1}
    sources: dict[tuple[str, str], list[tuple[str, str]]] = collections.defaultdict(list)
    if not wanted:  # nothing to name: leave the file unread
        return sources
    with fileio.open(path, "rb") as f:
        lines = gzip.decompress(f.read()).decode("utf-8").splitlines()
    for line in lines:
        row = json.loads(line)
        if row[features.SHA256_KEY] in wanted:
            key = (row["split"], row[features.SHA256_KEY])
            sources[key].append((row["path"], row[features.LABEL_NAME_KEY]))
    return sources


def to_anomalies_proto(issues: list[ops.Issue]) -> anomalies_pb2.Anomalies:
    """Image issues as a TFMD Anomalies proto (one entry per feature)."""
    proto = anomalies_pb2.Anomalies()
    severity = anomalies_pb2.AnomalyInfo.Severity
    for issue in issues:
        info = proto.anomaly_info[issue.feature]
        info.path.step.append(issue.feature)
        if issue.severity == ops.ERROR or info.severity != severity.ERROR:
            info.severity = severity.Value(issue.severity)
        reason = info.reason.add()
        reason.type = anomalies_pb2.AnomalyInfo.CUSTOM_VALIDATION
        reason.short_description = issue.kind
        reason.description = issue.description
        info.short_description = issue.kind if len(info.reason) == 1 else "Multiple errors"
        info.description = " ".join(r.description for r in info.reason)
    return proto


def validator_errors(anomalies: types.Artifact) -> list[str]:
    """Human-readable lines for every anomaly ExampleValidator recorded."""
    lines = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), SCHEMA_DIFF_FILE)
        if not fileio.exists(path):
            continue
        proto = anomalies_pb2.Anomalies.FromString(io_utils.read_bytes_file(path))
        for name, info in sorted(proto.anomaly_info.items()):
            lines.append(f"[{split}] {name}: {info.description or info.short_description}")
        if proto.HasField("dataset_anomaly_info"):
            lines.append(f"[{split}] dataset: {proto.dataset_anomaly_info.description}")
    return lines


class Executor(base_executor.BaseExecutor):
    """Runs the image checks and optionally halts the pipeline."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ensure_output_dirs(output_dict)
        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(input_dict[keys.EXAMPLES])
        output = artifact_utils.get_single_instance(output_dict[keys.IMAGE_ANOMALIES])
        cfg = ops.CheckConfig(**json.loads(exec_properties.get(keys.CONFIG) or "{}"))
        halt = bool(exec_properties.get(keys.HALT_ON_ANOMALIES, 1))

        split_names = artifact_utils.decode_split_names(examples.split_names)
        splits = {s: read_split(artifact_utils.get_split_uri([examples], s)) for s in split_names}
        issues = ops.run_checks(splits, cfg, read_sources(examples.uri, splits))
        output.split_names = artifact_utils.encode_split_names(split_names)
        for split in split_names:
            split_dir = artifact_utils.get_split_uri([output], split)
            fileio.makedirs(split_dir)
            writer_utils.write_anomalies(
                os.path.join(split_dir, SCHEMA_DIFF_FILE),
                to_anomalies_proto([i for i in issues if i.split in (split, ops.ALL_SPLITS)]),
            )
        upstream = []
        if input_dict.get(keys.ANOMALIES):
            upstream = validator_errors(
                artifact_utils.get_single_instance(input_dict[keys.ANOMALIES])
            )
        report = {
            "examples_per_split": {s: len(r) for s, r in splits.items()},
            "issues": [dataclasses.asdict(i) for i in issues],
            "example_validator": upstream,
        }
        io_utils.write_string_file(
            os.path.join(output.uri, files.IMAGE_CHECKS_FILE), json.dumps(report, indent=2)
        )
        errors = [i for i in issues if i.severity == ops.ERROR]
        output.set_int_custom_property("num_errors", len(errors) + len(upstream))
        output.set_int_custom_property("num_warnings", len(issues) - len(errors))
        for issue in issues:
            log = logging.error if issue.severity == ops.ERROR else logging.warning
            log("image check [%s] %s: %s", issue.split, issue.kind, issue.description)
        for line in upstream:
            logging.error("ExampleValidator %s", line)
        blocking = [f"[{i.split}] {i.kind}: {i.description}" for i in errors] + upstream
        if halt and blocking:
            raise ImageCheckFailure(
                "data validation found anomalies; fix the data or run with "
                "--no-halt-on-anomalies to continue anyway:\n  " + "\n  ".join(blocking[:20])
            )
