"""`vrl harvest`: logged PredictionLogs -> a labelling folder -> the next span ImageExampleGen ingests.

The logs are TF Serving PredictionLog TFRecords as `vrl serve` writes them for a
`logging_config` (published `<prefix>.<start>.<id>.tfrecord`, a hidden `.tmp`
file still open). The training span the served version names in its provenance
is a real ImageExampleGen output. Ingest of the labelled span is proved with
the ImageExampleGen executor on the folder the local runner's preflight
resolves (a full `vrl run image` costs minutes on two shared cores).
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx.proto import example_gen_pb2

from contracts import features
from contracts.serving_base import PROVENANCE_FILE
from models import selection
from pipeline.image_config import ImagePipelineConfig
from tests.components.image_example_gen.test_executor import _props, _read_split, _run
from vrl import cli, demo_data, harvest, local

pytestmark = pytest.mark.slow  # trains, serves and ingests a harvested span: not in `make check`

MODEL = "shapes"
CLASSES = ("circle", "cross", "square", "star", "triangle")


def _images(folder) -> dict[str, tuple[bytes, str]]:
    """sha256 -> (bytes, class) of a class-per-folder tree."""
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "*", "*"))):
        data = open(path, "rb").read()
        out[hashlib.sha256(data).hexdigest()] = (data, os.path.basename(os.path.dirname(path)))
    return out


def _predict_log(images: list[bytes], probs: np.ndarray, model: str = MODEL):
    record = prediction_log_pb2.PredictionLog()
    record.log_metadata.model_spec.name = model
    record.log_metadata.model_spec.version.value = 1
    record.log_metadata.model_spec.signature_name = "serving_default"
    request, response = record.predict_log.request, record.predict_log.response
    request.inputs[features.SERVING_INPUT_KEY].CopyFrom(tf.make_tensor_proto(images))
    response.outputs[features.OUTPUT_PROBABILITIES].CopyFrom(
        tf.make_tensor_proto(probs.astype(np.float32))
    )
    guesses = [CLASSES[i].encode() for i in probs.argmax(axis=1)]
    response.outputs[features.OUTPUT_LABEL_NAMES].CopyFrom(tf.make_tensor_proto(guesses))
    return record.SerializeToString()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """span-1 trained on (ImageExampleGen output named by a pushed version's provenance),
    and logs of span-2's images plus span-1 repeats, a duplicate and another model."""
    root = tmp_path_factory.mktemp("harvest")
    shapes = root / "shapes"
    demo_data.make_shapes(str(shapes), per_class=6, seed=3, spans=2)
    config = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="s", pattern="*/*")])
    output = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=1)]
        )
    )
    examples, _ = _run(str(root / "ingest1"), _props(shapes / "span-1", config, output))
    version = root / "serving" / MODEL / "1"
    (version / "assets.extra").mkdir(parents=True)
    (version / PROVENANCE_FILE).write_text(json.dumps({"data": {"examples_uri": examples.uri}}))

    trained, pool = _images(shapes / "span-1"), _images(shapes / "span-2")
    logged = list(pool) + list(trained)[:3] + list(pool)[:1]  # 3 trained, 1 duplicate
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(CLASSES)) * 0.5, size=len(logged))
    logs = root / "logs"
    logs.mkdir()
    blobs = [
        _predict_log([(pool | trained)[k][0] for k in logged[i : i + 4]], probs[i : i + 4])
        for i in range(0, len(logged), 4)
    ]
    with tf.io.TFRecordWriter(str(logs / f"{MODEL}.1700000000000.42-1.tfrecord")) as w:
        for blob in blobs[:-1]:
            w.write(blob)
        w.write(_predict_log([trained[logged[-3]][0]], np.eye(5)[:1], model="other"))
    with tf.io.TFRecordWriter(str(logs / f"{MODEL}.1700000001000.42-2.tfrecord")) as w:
        w.write(blobs[-1])
    # A file still being written by the server: hidden, never read.
    (logs / f".{MODEL}.1700000002000.42-3.tfrecord.tmp").write_bytes(b"\x00" * 5)
    return {
        "root": root,
        "shapes": shapes,
        "logs": logs,
        "serving": root / "serving",
        "trained": trained,
        "pool": pool,
        "logged": logged,
        "probs": probs,
    }


def _harvest(world, out, budget, strategy="margin"):
    argv = ["harvest", MODEL, "--logs", str(world["logs"] / MODEL), "--out", str(out)]
    argv += ["--budget", str(budget), "--strategy", strategy]
    return cli.main(argv + ["--serving-base", str(world["serving"])])


def _manifest(folder) -> list[dict]:
    with open(os.path.join(folder, harvest.MANIFEST), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_harvest_picks_lowest_margins_never_trained_images_once_each(world, tmp_path, capsys):
    assert _harvest(world, tmp_path / "out", 7) == 0
    rows = _manifest(tmp_path / "out")
    assert list(rows[0]) == list(harvest.COLUMNS)
    assert all(r["label"] == "" and r["model_guess"] in CLASSES for r in rows)
    picked = {hashlib.sha256((tmp_path / "out" / r["path"]).read_bytes()).hexdigest() for r in rows}
    assert len(picked) == len(rows) == 7
    assert not picked & set(world["trained"])
    # By hand: the 7 distinct pool images of smallest margin (first logging of a duplicate).
    margins = selection.margin(world["probs"])
    best = {}
    for key, m in zip(world["logged"], margins, strict=True):
        if key in world["pool"]:
            best[key] = min(best.get(key, 2.0), m)
    assert picked == set(sorted(best, key=best.get)[:7])
    assert [float(r["margin"]) for r in rows] == sorted(float(r["margin"]) for r in rows)
    out = capsys.readouterr().out
    assert "3 already in a training span" in out


def test_budget_larger_than_pool_takes_the_pool(world, tmp_path):
    assert _harvest(world, tmp_path / "all", 10_000, "entropy") == 0
    assert len(_manifest(tmp_path / "all")) == len(world["pool"])


def test_harvest_refuses_a_folder_with_files_in_one_line(world, tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.png").write_bytes(b"x")
    assert _harvest(world, tmp_path / "busy", 3) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not empty" in err[0]


def test_labelled_harvest_is_the_next_span_ingested(world, tmp_path):
    """Harvest, label from the truth, drop in as span-2 beside the class-per-folder span-1:
    the runner's preflight picks the manifest span and ImageExampleGen ingests it."""
    assert _harvest(world, tmp_path / "h", 8) == 0
    data = tmp_path / "data"
    shutil.copytree(world["shapes"] / "span-1", data / "span-1")
    shutil.copytree(tmp_path / "h", data / "span-2")
    rows = _manifest(data / "span-2")
    truth = {}
    for row in rows:
        sha = hashlib.sha256((data / "span-2" / row["path"]).read_bytes()).hexdigest()
        row["label"] = truth[sha] = world["pool"][sha][1]
    with open(data / "span-2" / harvest.MANIFEST, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=harvest.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)

    config = local.preflight_image(ImagePipelineConfig(data_dir=str(data), home=str(tmp_path)))
    assert config.input_pattern == "span-{SPAN}/*.csv"
    split = example_gen_pb2.Input.Split(name="s", pattern=config.input_pattern)
    output = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=1)]
        )
    )
    examples, _ = _run(
        str(tmp_path / "ingest"), _props(data, example_gen_pb2.Input(splits=[split]), output)
    )
    assert examples.get_int_custom_property("span") == 2
    got = {}
    for ex in _read_split(examples.uri, "train"):
        f = ex.features.feature
        got[f[features.SHA256_KEY].bytes_list.value[0].decode()] = (
            f[features.LABEL_NAME_KEY].bytes_list.value[0].decode()
        )
    assert got == truth


def test_logs_found_through_the_model_configs_logging_config(world, tmp_path):
    config = tmp_path / "models.config"
    logging = (
        "logging_config { sampling_config { sampling_rate: 1.0 } log_collector_config "
        f"{{ type: 'tfrecord' filename_prefix: '{world['logs'] / MODEL}' }} }}"
    )
    config.write_text(
        f"model_config_list {{ config {{ name: '{MODEL}' base_path: "
        f"'{world['serving'] / MODEL}' model_platform: 'tensorflow' {logging} }} }}"
    )
    argv = ["harvest", MODEL, "--model-config", str(config), "--out", str(tmp_path / "o")]
    assert cli.main(argv + ["--budget", "4", "--serving-base", str(world["serving"])]) == 0
    assert len(_manifest(tmp_path / "o")) == 4
    assert cli.main(["harvest", MODEL, "--out", str(tmp_path / "p"), "--budget", "4"]) == 2
