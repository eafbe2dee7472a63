"""`vrl run infer --data POOL`: an unlabelled folder scored by the served model through
TFX's BulkInferrer (one LocalDagRunner run of ImageExampleGen, ServedBaseline and
BulkInferrer), and `vrl harvest` reading the PredictionLogs it wrote. The model is
the hand-built colour classifier (tests/vrl/traffic.py), not a trained one."""

from __future__ import annotations

import csv
import glob
import hashlib
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from contracts import features
from tests.vrl.traffic import CLASSES, image, push_colour_model, training_like
from vrl import cli

pytestmark = pytest.mark.slow  # a LocalDagRunner run with two Beam components


@pytest.fixture(scope="module")
def inferred(tmp_path_factory):
    """A pool of 12 new images of known colours, one the model was trained on and one
    file that is not an image, scored by `vrl run infer`."""
    root = tmp_path_factory.mktemp("infer")
    base = push_colour_model(str(root))
    pool = root / "pool"
    pool.mkdir()
    rng = np.random.default_rng(7)
    colours = [i % 3 for i in range(12)]
    for i, colour in enumerate(colours):
        (pool / f"new-{i:02d}.png").write_bytes(image(rng, colour))
    (pool / "seen.png").write_bytes(training_like(0, 1)[0])  # in the span it learned from
    (pool / "broken.png").write_bytes(b"not an image")
    argv = ["run", "infer", "--data", str(pool), "--home", str(root / "home")]
    code = cli.main(argv + ["--serving-base", base, "--model-name", "colour"])
    found = glob.glob(str(root / "home" / "tfx" / "**" / "prediction_logs-*"), recursive=True)
    return {"code": code, "root": root, "base": base, "pool": pool, "logs": found}


def test_pool_is_scored_into_prediction_logs_with_tf_servings_proto(inferred):
    assert inferred["code"] == 0
    assert inferred["logs"]
    records = [
        prediction_log_pb2.PredictionLog.FromString(raw)
        for path in inferred["logs"]
        for raw in tf.data.TFRecordDataset(path, compression_type="GZIP").as_numpy_iterator()
    ]
    scored = {}
    for record in records:
        request, response = record.predict_log.request, record.predict_log.response
        examples = request.inputs[features.EXAMPLES_INPUT_KEY].string_val
        names = response.outputs[features.OUTPUT_LABEL_NAMES].string_val
        for serialized, name in zip(examples, names, strict=True):
            example = tf.train.Example.FromString(serialized)
            data = example.features.feature[features.IMAGE_KEY].bytes_list.value[0]
            scored[hashlib.sha256(data).hexdigest()] = name.decode()
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in inferred["pool"].iterdir()}
    assert set(scored) == {h for name, h in files.items() if name != "broken.png"}
    # The colour model's answer for each new image is its dominant colour.
    for i in range(12):
        assert scored[files[f"new-{i:02d}.png"]] == CLASSES[i % 3]


def test_harvest_reads_the_inference_logs_and_a_budget_over_the_pool_takes_the_pool(
    inferred, tmp_path, capsys
):
    logs = os.path.dirname(inferred["logs"][0])
    out = tmp_path / "label-me"
    argv = ["harvest", "colour", "--logs", logs, "--out", str(out), "--budget", "100"]
    assert cli.main(argv + ["--serving-base", inferred["base"]]) == 0
    with open(out / "manifest.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12  # the new images; the one trained on is excluded
    assert all(r["label"] == "" and r["model_guess"] in CLASSES for r in rows)
    assert "1 already in a training span" in capsys.readouterr().out


def test_nothing_served_is_one_line(tmp_path, capsys):
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "a.png").write_bytes(training_like(0, 1)[0])
    argv = ["run", "infer", "--data", str(pool), "--home", str(tmp_path / "home")]
    assert cli.main(argv + ["--model-name", "nobody"]) == 2
    err = capsys.readouterr().err
    assert "no model to score with" in err and err.count("\n") == 1
