"""`vrl monitor`: logged traffic of a served model against its training span (TFDV skew)."""

from __future__ import annotations

import csv
import json
import os
import shutil

import grpc
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from components.atomic_pusher.ops import atomic_push
from components.image_example_gen.ops import build_example, check_image
from contracts import features
from contracts.serving_base import PROVENANCE_FILE
from serving.options import ServerOptions
from serving.request_log import published_files
from serving.server import start_server
from vrl import cli

CLASSES = ("red", "green", "blue")


class ColourModel(tf.Module):
    """Predicts the dominant colour channel: the classes depend on the input."""

    def __init__(self) -> None:
        super().__init__()
        self.labels = tf.constant(CLASSES)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve(self, image_bytes):
        def mean(b):
            image = tf.io.decode_image(b, channels=3, expand_animations=False)
            return tf.reduce_mean(tf.cast(image, tf.float32) / 255.0, axis=[0, 1])

        means = tf.map_fn(mean, image_bytes, fn_output_signature=tf.float32)
        probabilities = tf.nn.softmax(8.0 * means)
        class_ids = tf.argmax(probabilities, axis=1)
        return {
            features.OUTPUT_PROBABILITIES: probabilities,
            features.OUTPUT_CLASS_IDS: class_ids,
            features.OUTPUT_LABEL_NAMES: tf.gather(self.labels, class_ids),
        }


def _image(rng, colour: int, size=(32, 32), fmt: str = "png") -> bytes:
    pixels = rng.integers(20, 90, (*size, 3))
    pixels[..., colour] += rng.integers(60, 160)
    pixels = pixels.clip(0, 255).astype(np.uint8)
    encode = tf.io.encode_png if fmt == "png" else tf.io.encode_jpeg
    return encode(pixels).numpy()


def _training_like(seed: int, n: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [_image(rng, i % 3) for i in range(n)]


def _shifted(seed: int, n: int) -> list[bytes]:
    """Other sizes, JPEG, and mostly red."""
    rng = np.random.default_rng(seed)
    return [_image(rng, 0 if i % 5 else 2, (48, 64), "jpeg") for i in range(n)]


def _span(root: str, images: list[bytes]) -> str:
    """An Examples artifact folder (Split-train) of ImageExampleGen's own tf.Examples."""
    uri = os.path.join(root, "examples")
    os.makedirs(os.path.join(uri, "Split-train"))
    path = os.path.join(uri, "Split-train", "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i, data in enumerate(images):
            writer.write(
                build_example(data, check_image(data), i % 3, CLASSES[i % 3]).SerializeToString()
            )
    return uri


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One model pushed with provenance naming its span, served under three names (each
    with its own logging_config): one gets traffic like the span, one shifted traffic,
    one none."""
    root = str(tmp_path_factory.mktemp("monitor"))
    export = os.path.join(root, "export")
    module = ColourModel()
    tf.saved_model.save(module, export, signatures={"serving_default": module.serve})
    uri = _span(root, _training_like(0, 90))
    os.makedirs(os.path.join(export, os.path.dirname(PROVENANCE_FILE)))
    with open(os.path.join(export, PROVENANCE_FILE), "w", encoding="utf-8") as f:
        json.dump(
            {"model_name": "colour", "version": 1, "data": {"span": 0, "examples_uri": uri}}, f
        )
    base = os.path.join(root, "serving", "colour")
    atomic_push(export, base, version=1)
    config = os.path.join(root, "models.config")
    entries = "".join(
        f'config {{ name: "{name}" base_path: "{base}" logging_config {{ '
        f'log_collector_config {{ type: "tfrecord" filename_prefix: "logs/{name}" }} '
        "sampling_config { sampling_rate: 1.0 } } }\n"
        for name in ("like", "shifted", "quiet")
    )
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"model_config_list {{\n{entries}}}\n")
    handle = start_server(ServerOptions(model_config=config, grpc_port=0, rest_port=None))
    try:
        handle.wait_until_available("like")
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for name, images in (("like", _training_like(1, 90)), ("shifted", _shifted(2, 90))):
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
