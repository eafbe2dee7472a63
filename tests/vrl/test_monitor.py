"""`vrl monitor`: logged traffic of a served model against its training span (TFDV skew)."""

from __future__ import annotations

import csv
import os
import shutil

import grpc
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.options import ServerOptions
from serving.request_log_file import published_files
from serving.server import start_server
from tests.vrl.traffic import (
    CLASSES,
    log_colour_traffic,
    logging_config,
    push_colour_model,
    shifted,
    training_like,
)
from vrl import cli


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One model pushed with provenance naming its span, served under three names (each
    with its own logging_config): one gets traffic like the span, one shifted traffic,
    one none."""
    root = str(tmp_path_factory.mktemp("monitor"))
    base = push_colour_model(root)
    config = os.path.join(root, "models.config")
    logging_config(config, base, {name: "colour" for name in ("like", "shifted", "quiet")})
    handle = start_server(ServerOptions(model_config=config, grpc_port=0, rest_port=None))
    try:
        handle.wait_until_available("like")
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for name, images in (("like", training_like(1, 90)), ("shifted", shifted(2, 90))):
                for i in range(0, len(images), 3):
                    request = predict_pb2.PredictRequest()
                    request.model_spec.name = name
                    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(images[i : i + 3]))
                    stub.Predict(request, 30.0)
    finally:
        handle.stop()  # publishes the logs
    return root, config


def _monitor(root: str, config: str, name: str, *extra: str) -> int:
    out = os.path.join(root, "out", name)
    return cli.main(["monitor", name, "--model-config", config, "--out", out, *extra])


def test_shifted_traffic_exits_nonzero_naming_the_drifted_features(served, capsys):
    root, config = served
    assert _monitor(root, config, "shifted") == 1
    err = capsys.readouterr().err
    drifted = err.split("DRIFT in shifted: ")[1].strip().split(", ")
    for name in ("format", "height", "width", "predicted_class", "bytes"):
        assert name in drifted
    anomalies = tfdv.load_anomalies_text(
        os.path.join(root, "out", "shifted", "version-1", "anomalies.pbtxt")
    )
    assert "format" in anomalies.anomaly_info
    served_stats = tfdv.load_stats_text(
        os.path.join(root, "out", "shifted", "version-1", "served_stats.pbtxt")
    )
    assert served_stats.datasets[0].num_examples == 90


def test_traffic_like_the_training_span_exits_zero(served, capsys):
    root, config = served
    assert _monitor(root, config, "like") == 0
    out = capsys.readouterr().out
    assert "model like: 30 logged requests" in out
    assert "DRIFT" not in out


def test_truncated_log_file_is_skipped_and_counted(served, tmp_path, capsys):
    root, config = served
    logs = os.path.join(root, "logs")
    source = published_files(os.path.join(logs, "like"))[0]
    damaged = os.path.join(tmp_path, "damaged")
    shutil.copytree(os.path.dirname(source), os.path.join(damaged, "logs"))
    shutil.copy(config, os.path.join(damaged, "models.config"))
    copy = published_files(os.path.join(damaged, "logs", "like"))[0]
    with open(copy, "r+b") as f:
        f.truncate(os.path.getsize(copy) // 2)
    assert _monitor(str(damaged), os.path.join(damaged, "models.config"), "like") == 0
    out = capsys.readouterr().out
    assert "1 truncated/corrupt files skipped" in out


def test_edited_schema_thresholds_decide_and_a_broken_one_is_one_line(served, tmp_path, capsys):
    root, config = served
    written = os.path.join(root, "out", "shifted", "schema.pbtxt")
    if not os.path.isfile(written):  # this test run alone
        _monitor(root, config, "shifted")
    schema = tfdv.load_schema_text(written)
    for feature in schema.feature:  # the user loosens every threshold
        comparator = feature.skew_comparator
        for kind in ("infinity_norm", "jensen_shannon_divergence"):
            if comparator.HasField(kind):
                getattr(comparator, kind).threshold = 1.5
    loose = str(tmp_path / "loose.pbtxt")
    tfdv.write_schema_text(schema, loose)
    assert _monitor(root, config, "shifted", "--schema", loose) == 0
    broken = tmp_path / "broken.pbtxt"
    broken.write_text("feature { name: ")
    capsys.readouterr()
    assert _monitor(root, config, "shifted", "--schema", str(broken)) == 2
    err = capsys.readouterr().err
    assert "not a text-format TFDV schema" in err and err.count("\n") == 1


def test_no_logged_traffic_is_one_line(served, capsys):
    root, config = served
    assert _monitor(root, config, "quiet") == 0
    out = capsys.readouterr().out
    assert out.strip() == "no logged traffic for model quiet in the window"


def test_harvest_reads_the_logs_vrl_serve_wrote(served, tmp_path):
    root, _ = served
    out = tmp_path / "harvest"
    code = cli.main(
        ["harvest", "like", "--out", str(out), "--budget", "5",
         "--logs", os.path.join(root, "logs", "like"),
         "--serving-base", os.path.join(root, "serving"),
         "--exclude-examples", os.path.join(root, "examples")]
    )  # fmt: skip
    assert code == 0
    with open(out / "manifest.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5
    assert all((out / row["path"]).is_file() and row["label"] == "" for row in rows)
    assert {row["model_guess"] for row in rows} <= set(CLASSES)
    margins = [float(row["margin"]) for row in rows]
    assert margins == sorted(margins)  # the least sure first


def test_corrupt_files_are_skipped_and_counted_beside_the_good_ones(tmp_path, capsys):
    """A file with a damaged record (its checksum fails) and one of records that are
    not PredictionLogs are skipped and counted; the good file is still compared."""
    root = str(tmp_path)
    base = push_colour_model(root)
    config = os.path.join(root, "models.config")
    logging_config(config, base, {"colour": "colour"})
    good = log_colour_traffic(os.path.join(root, "logs", "colour"), "colour", shifted(3, 30))
    prefix, start_ms, _, suffix = good.rsplit(".", 3)  # <prefix>.<start ms>.<id>.tfrecord
    later = [f"{prefix}.{int(start_ms) + i}.9-{i}.{suffix}" for i in (1, 2)]
    data = bytearray(open(good, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(later[0], "wb").write(bytes(data))
    with tf.io.TFRecordWriter(later[1]) as writer:
        writer.write(b"\xff" * 40)  # framed correctly, not a PredictionLog
    out = os.path.join(root, "out")
    assert cli.main(["monitor", "colour", "--model-config", config, "--out", out]) == 1
    printed = capsys.readouterr().out
    assert "model colour: 10 logged requests from 1 files; 2 truncated/corrupt files skipped" in (
        printed
    )
