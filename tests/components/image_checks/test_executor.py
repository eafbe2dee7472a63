import json
import os

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts

from components.image_checks import executor, keys
from contracts import files


def _example(label, sha, h=32, w=32, c=3):
    feats = {
        "label_name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
        "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[h])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[w])),
        "channels": tf.train.Feature(int64_list=tf.train.Int64List(value=[c])),
        "sha256": tf.train.Feature(bytes_list=tf.train.BytesList(value=[sha.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def _examples_artifact(root, splits):
    art = standard_artifacts.Examples()
    art.uri = str(root / "examples")
    art.split_names = artifact_utils.encode_split_names(list(splits))
    for split, rows in splits.items():
        d = os.path.join(art.uri, f"Split-{split}")
        os.makedirs(d)
        with tf.io.TFRecordWriter(os.path.join(d, "data.gz"), options="GZIP") as w:
            for row in rows:
                w.write(_example(*row))
    return art


def _run(tmp_path, splits, halt):
    out = standard_artifacts.ExampleAnomalies()
    out.uri = str(tmp_path / "out")
    executor.Executor().Do(
        {keys.EXAMPLES: [_examples_artifact(tmp_path, splits)]},
        {keys.IMAGE_ANOMALIES: [out]},
        {keys.CONFIG: json.dumps({"max_class_imbalance": 3.0}), keys.HALT_ON_ANOMALIES: int(halt)},
    )
    return out


def test_leak_is_written_as_tfmd_anomaly_and_reported(tmp_path):
    splits = {
        "train": [("a", "h1"), ("b", "h2")],
        "eval": [("a", "h1"), ("b", "h3")],
    }
    out = _run(tmp_path, splits, halt=False)
    proto = anomalies_pb2.Anomalies.FromString(
        open(os.path.join(out.uri, "Split-eval", executor.SCHEMA_DIFF_FILE), "rb").read()
    )
    info = proto.anomaly_info["sha256"]
    assert info.severity == anomalies_pb2.AnomalyInfo.ERROR
    assert info.reason[0].short_description == "train_eval_leak"
    report = json.load(open(os.path.join(out.uri, files.IMAGE_CHECKS_FILE)))
    assert report["examples_per_split"] == {"train": 2, "eval": 2}
    assert out.get_int_custom_property("num_errors") == 1


def test_halts_with_a_message_naming_the_problem(tmp_path):
    splits = {"train": [("a", "h1"), ("b", "h2")], "eval": [("a", "h1"), ("b", "h3")]}
    with pytest.raises(executor.ImageCheckFailure, match=r"\[eval\] train_eval_leak"):
        _run(tmp_path, splits, halt=True)


def test_clean_data_passes_even_when_halting(tmp_path):
    splits = {"train": [("a", "h1"), ("b", "h2")], "eval": [("a", "h3"), ("b", "h4")]}
    out = _run(tmp_path, splits, halt=True)
    assert out.get_int_custom_property("num_errors") == 0


def test_executor_reads_and_writes_only_through_gfile_on_ram_uris():
    from tfx.dsl.io import fileio

    art = standard_artifacts.Examples()
    art.uri = "ram://image-checks/examples"
    art.split_names = artifact_utils.encode_split_names(["train", "eval"])
    rows = {"train": [("a", "h1"), ("b", "h2")], "eval": [("a", "h3"), ("b", "h4")]}
    for split, split_rows in rows.items():
        d = f"{art.uri}/Split-{split}"
        fileio.makedirs(d)
        with tf.io.TFRecordWriter(f"{d}/data.gz", options="GZIP") as w:
            for row in split_rows:
                w.write(_example(*row))
    out = standard_artifacts.ExampleAnomalies()
    out.uri = "ram://image-checks/out"
    executor.Executor().Do(
        {keys.EXAMPLES: [art]},
        {keys.IMAGE_ANOMALIES: [out]},
        {keys.CONFIG: json.dumps({"max_class_imbalance": 3.0}), keys.HALT_ON_ANOMALIES: 1},
    )
    with fileio.open(f"{out.uri}/{files.IMAGE_CHECKS_FILE}") as f:
        assert json.load(f)["examples_per_split"] == {"train": 2, "eval": 2}
    assert fileio.exists(f"{out.uri}/Split-eval/{executor.SCHEMA_DIFF_FILE}")
