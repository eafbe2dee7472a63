"""The work of `vrl monitor` (imported only when it runs: TensorFlow, TFDV)."""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import tensorflow as tf
import tensorflow_data_validation as tfdv
from google.protobuf import text_format

from components.atomic_pusher.provenance import read_provenance
from contracts import features
from serving.log_files import read_logged_traffic
from serving.model_config import ModelSpec
from vrl import drift, prediction_logs


def served_rows(logs: list) -> tuple[list[dict], int]:
    """Feature rows of logged Predicts (one per image) and the count of records that
    are not Predicts of an image classifier (skipped)."""
    images, probabilities, guesses, unusable = [], [], [], 0
    for entry in logs:
        try:
            scored = prediction_logs.scored_images(entry)
        except (ValueError, IndexError):
            unusable += 1
            continue
        for item in scored:
            images.append(item.image)
            probabilities.append(item.probabilities)
            guesses.append(item.guess)
    return drift.rows(images, np.array(probabilities), guesses), unusable


def training_rows(version_dir: str, sample: int) -> list[dict]:
    """Feature rows of the training span named by the version's provenance, scored by it."""
    provenance = read_provenance(version_dir)
    uri = ((provenance or {}).get("data") or {}).get("examples_uri")
    if not uri:
        raise ValueError(
            f"{version_dir}: no provenance naming its training examples "
            "(assets.extra/vrl_provenance.json data.examples_uri); push it with vrl run"
        )
    images = drift.span_images(uri, "train", sample)
    signature = tf.saved_model.load(version_dir).signatures["serving_default"]

    def predict(batch: list[bytes]) -> tuple[np.ndarray, list[str]]:
        outputs = signature(**{features.SERVING_INPUT_KEY: tf.constant(batch)})
        names = outputs[features.OUTPUT_LABEL_NAMES].numpy()
        return outputs[features.OUTPUT_PROBABILITIES].numpy(), [n.decode() for n in names]

    return drift.rows(images, *drift.score(predict, images))


def _schema(path: str, training) -> object:
    """The user's schema at `path`, or the default one written there for them to edit."""
    if os.path.isfile(path):
        try:
            return tfdv.load_schema_text(path)
        except text_format.ParseError as e:
            raise ValueError(f"{path}: not a text-format TFDV schema ({e})") from e
    schema = drift.default_schema(training)
    tfdv.write_schema_text(schema, path)
    return schema


def run(
    spec: ModelSpec, since_s: float, until_s: float, out: str, schema_path: str, sample: int
) -> list[str] | None:
    """Compares each answering version's logged traffic with its training span; returns
    the drifted features (None: no logged traffic in the window)."""
    traffic = read_logged_traffic(spec.log_filename_prefix, since_s, until_s)
    skipped = f"; {len(traffic.files_skipped)} truncated/corrupt files skipped" * bool(
        traffic.files_skipped
    )
    by_version: dict[int, list] = defaultdict(list)
    for entry in traffic.logs:
        by_version[entry.log_metadata.model_spec.version.value].append(entry)
    if not by_version:
        print(f"no logged traffic for model {spec.name} in the window{skipped}")
        return None
    os.makedirs(out, exist_ok=True)
    drifted: set[str] = set()
    table = []
    for version, logs in sorted(by_version.items()):
        rows, unusable = served_rows(logs)
        if unusable:
            print(f"version {version}: {unusable} logged records are not image Predicts; skipped")
        served = drift.statistics(rows)
        version_dir = os.path.join(spec.base_path, str(version))
        training = drift.statistics(training_rows(version_dir, sample))
        schema = _schema(schema_path, training)
        anomalies, measured = drift.compare(training, served, schema)
        folder = os.path.join(out, f"version-{version}")
        os.makedirs(folder, exist_ok=True)
        tfdv.write_stats_text(served, os.path.join(folder, "served_stats.pbtxt"))
        tfdv.write_stats_text(training, os.path.join(folder, "training_stats.pbtxt"))
        tfdv.write_anomalies_text(anomalies, os.path.join(folder, "anomalies.pbtxt"))
        drifted |= set(drift.drifted_features(anomalies, measured))
        for m in measured:
            table.append(
                (version, m.feature, m.comparator, drift.mean_of(training, m.feature),
                 drift.mean_of(served, m.feature), m.value, m.threshold, m.drifted)
            )  # fmt: skip
    _print_table(spec.name, len(traffic.logs), traffic.files_read, skipped, table)
    print(f"statistics, schema ({schema_path}) and anomalies in {out}")
    return sorted(drifted)


def _print_table(model: str, requests: int, files: int, skipped: str, table: list) -> None:
    print(f"model {model}: {requests} logged requests from {files} files{skipped}")
    print(f"{'ver':>4} {'feature':<17}{'comparator':<26}{'training':>10}{'served':>10}"
          f"{'distance':>10}{'threshold':>10}  status")  # fmt: skip
    for version, feature, comparator, train, served, value, threshold, bad in table:
        print(f"{version:>4} {feature:<17}{comparator:<26}{drift.fmt(train):>10}"
              f"{drift.fmt(served):>10}{value:>10.4g}{threshold:>10.4g}  "
              f"{'DRIFT' if bad else 'ok'}")  # fmt: skip
