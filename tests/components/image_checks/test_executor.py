import gzip
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


def _write_listing(examples_uri, rows):
    """ImageExampleGen's example listing: (path, sha256, split, label_name) rows."""
    keys_ = ("path", "sha256", "split", "label_name")
    text = "".join(json.dumps(dict(zip(keys_, row, strict=True))) + "\n" for row in rows)
    with open(os.path.join(examples_uri, files.EXAMPLE_LISTING_FILE), "wb") as f:
        f.write(gzip.compress(text.encode()))


def _run(tmp_path, splits, halt, listing=None):
    out = standard_artifacts.ExampleAnomalies()
    out.uri = str(tmp_path / "out")
    examples = _examples_artifact(tmp_path, splits)
    if listing is not None:
        _write_listing(examples.uri, listing)
    executor.Executor().Do(
        {keys.EXAMPLES: [examples]},
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
    with pytest.raises(executor.ImageCheckFailure, match=r"\[eval\] train_eval_leak") as err:
        _run(tmp_path, splits, halt=True)
    # Examples without ImageExampleGen's listing: the finding names the hash.
    assert "e.g. sha256 h1\n" in str(err.value) + "\n"


def test_findings_name_the_files_from_the_example_listing(tmp_path):
    splits = {
        "train": [("a", "h1"), ("b", "h2"), ("a", "h4"), ("b", "h4")],
        "eval": [("a", "h1"), ("b", "h3")],
    }
    listing = [
        ("a/one.png", "h1", "train", "a"),
        ("b/two.png", "h2", "train", "b"),
        ("a/same.png", "h4", "train", "a"),
        ("b/same.png", "h4", "train", "b"),
        ("a/one_again.png", "h1", "eval", "a"),
        ("b/three.png", "h3", "eval", "b"),
    ]
    out = _run(tmp_path, splits, halt=False, listing=listing)
    report = json.load(open(os.path.join(out.uri, files.IMAGE_CHECKS_FILE)))
    described = {i["kind"]: i["description"] for i in report["issues"]}
    assert described["conflicting_labels"].endswith(
        "e.g. a/same.png (a) and b/same.png (b), sha256 h4"
    )
    assert described["train_eval_leak"].endswith(
        "e.g. a/one_again.png (eval) and a/one.png (train), sha256 h1"
    )


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
