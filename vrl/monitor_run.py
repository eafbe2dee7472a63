"""The work of `vrl monitor` (imported only when it runs: TensorFlow, TFDV)."""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict

import numpy as np
import tensorflow as tf
import tensorflow_data_validation as tfdv
from google.protobuf import text_format

from components.atomic_pusher.provenance import read_provenance
from contracts import features
from serving.log_files import read_logged_traffic
from serving.model_config import ModelSpec
from vrl import drift, monitor_files, monitor_policy, prediction_logs


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
    """Compares each answering version's logged traffic with its training span (a
    policy's: with its evaluation episodes); returns
    the drifted features (None: no logged traffic in the window). The verdict goes to
    `<out>/verdict.json` either way (`vrl report` shows the last one)."""
    traffic = read_logged_traffic(spec.log_filename_prefix, since_s, until_s)
    skipped = f"; {len(traffic.files_skipped)} truncated/corrupt files skipped" * bool(
        traffic.files_skipped
    )
    by_version: dict[int, list] = defaultdict(list)
    for entry in traffic.logs:
        by_version[entry.log_metadata.model_spec.version.value].append(entry)
    os.makedirs(out, exist_ok=True)
    verdict = {
        "model": spec.name,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "window": [since_s, until_s],
        "requests": len(traffic.logs),
        "files_read": traffic.files_read,
        "files_skipped": len(traffic.files_skipped),
        "schema": schema_path,
        "drifted": None,
        "versions": {},
    }
    if not by_version:
        _write_verdict(out, verdict)
        print(f"no logged traffic for model {spec.name} in the window{skipped}")
        return None
    drifted: set[str] = set()
    table = []
    for version, logs in sorted(by_version.items()):
        version_dir = os.path.join(spec.base_path, str(version))
        reference, served, label = _sides(version_dir, version, logs, sample)
        found, measured = _compare(reference, served, schema_path, out, version)
        drifted |= set(found)
        verdict["versions"][str(version)] = {
            "reference": label,
            "drifted": found,
            "measurements": [_measurement(m, reference, served) for m in measured],
        }
        table += [(version, m) for m in verdict["versions"][str(version)]["measurements"]]
    verdict["drifted"] = sorted(drifted)
    _write_verdict(out, verdict)
    _print_table(spec.name, len(traffic.logs), traffic.files_read, skipped, table)
    print(f"statistics, schema ({schema_path}) and anomalies in {out}")
    return sorted(drifted)


def _sides(version_dir: str, version: int, logs: list, sample: int):
    """(reference statistics, served statistics, what the reference is) of one version:
    a classifier's traffic against its training span, a policy's logged observations
    against its evaluation episodes'."""
    if monitor_policy.is_policy(version_dir):
        served, unusable = monitor_policy.served_statistics(logs, version)
        reference = monitor_policy.reference_statistics(version_dir)
        label, kind = monitor_policy.REFERENCE, "policy"
    else:
        rows, unusable = served_rows(logs)
        served = drift.statistics(rows)
        reference = drift.statistics(training_rows(version_dir, sample))
        label, kind = "training span", "image"
    if unusable:
        print(f"version {version}: {unusable} logged records are not {kind} Predicts; skipped")
    return reference, served, label


def _compare(training, served, schema_path: str, out: str, version: int):
    """TFDV's comparison of one version's two sides, written to `<out>/version-<N>/`;
    (drifted features, measurements)."""
    schema = _schema(schema_path, training)
    anomalies, measured = drift.compare(training, served, schema)
    folder = monitor_files.version_folder(out, version)
    os.makedirs(folder, exist_ok=True)
    tfdv.write_stats_text(served, os.path.join(folder, monitor_files.SERVED_STATS))
    tfdv.write_stats_text(training, os.path.join(folder, monitor_files.REFERENCE_STATS))
    tfdv.write_anomalies_text(anomalies, os.path.join(folder, monitor_files.ANOMALIES))
    return drift.drifted_features(anomalies, measured), measured


def _measurement(m: drift.Measurement, reference, served) -> dict:
    return {
        "feature": m.feature,
        "comparator": m.comparator,
        "reference": drift.mean_of(reference, m.feature),
        "served": drift.mean_of(served, m.feature),
        "distance": m.value,
        "threshold": m.threshold,
        "drifted": m.drifted,
    }


def _write_verdict(out: str, verdict: dict) -> None:
    """`<out>/verdict.json`, replaced whole (a reader never sees half of it)."""
    path = os.path.join(out, monitor_files.VERDICT_FILE)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(verdict, f, indent=1, default=float)
    os.replace(tmp, path)


def _print_table(model: str, requests: int, files: int, skipped: str, table: list) -> None:
    print(f"model {model}: {requests} logged requests from {files} files{skipped}")
    print(f"{'ver':>4} {'feature':<17}{'comparator':<26}{'reference':>10}{'served':>10}"
          f"{'distance':>10}{'threshold':>10}  status")  # fmt: skip
    for version, m in table:
        print(f"{version:>4} {m['feature']:<17}{m['comparator']:<26}"
              f"{drift.fmt(m['reference']):>10}{drift.fmt(m['served']):>10}"
              f"{m['distance']:>10.4g}{m['threshold']:>10.4g}  "
              f"{'DRIFT' if m['drifted'] else 'ok'}")  # fmt: skip
