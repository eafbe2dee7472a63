"""End to end on the embedded default: LocalDagRunner, SQLite MLMD, DirectRunner."""

import dataclasses
import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from ml_metadata.proto import metadata_store_pb2

from components.atomic_pusher.provenance import read_provenance
from contracts import features
from models.cnn import error_analysis, tflite_export
from models.cnn.config import TrainerConfig
from models.cnn.preprocessing import IMAGE_XF_KEY, decode_pixels, to_unit_range
from pipeline.image_config import ImagePipelineConfig
from vrl import demo_data
from vrl.cli import main
from vrl.local import run_image_pipeline
from vrl.results import latest_artifact, open_store
from vrl.runner import metadata_path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _versions(model_dir):
    return sorted(int(v) for v in os.listdir(model_dir) if v.isdigit())


def _latest_states(pipeline_root):
    """Component type (short name) -> state of its newest execution."""
    store = open_store(metadata_path(pipeline_root))
    latest = {}
    for e in sorted(store.get_executions(), key=lambda e: e.id):
        latest[e.type.rsplit(".", 1)[-1]] = e.last_known_state
    return latest


@pytest.fixture(scope="module")
def spans(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    demo_data.make_shapes(str(root / "all"), per_class=100, seed=3, spans=2)
    data = root / "data"
    data.mkdir()
    shutil.move(str(root / "all" / "span-1"), str(data / "span-1"))
    return data, root / "all" / "span-2"


@pytest.fixture(scope="module")
def first_run(spans, tmp_path_factory):
    """(config, summary) of the first run on span 1; the module's last test runs the
    pipeline again on the same home, so the tests before it read the first run."""
    data, _ = spans
    config = ImagePipelineConfig(
        data_dir=str(data),
        home=str(tmp_path_factory.mktemp("home")),
        min_accuracy=0.5,
        max_accuracy_drop=0.5,
        trainer=TrainerConfig(epochs=25, batch_size=16, tflite="dynamic"),
    )
    return config, run_image_pipeline(config)


def test_first_run_pushes_a_servable_model_with_error_analysis_and_tflite(spans, first_run):
    data, _ = spans
    config, summary = first_run
    model_dir = os.path.join(config.resolved_serving_base, config.model_name)

    # 1) Blessed and pushed atomically to <base>/<model>/<version>/.
    assert summary.blessed and summary.pushed
    (version,) = _versions(model_dir)
    assert summary.pushed_path == os.path.join(model_dir, str(version))
    assert sorted(os.listdir(model_dir)) == [str(version)]  # no staging left behind
    assert summary.metrics["sparse_categorical_accuracy"] >= 0.5
    assert len(summary.per_class) == 5
    assert (
        summary.ingest["files_seen"]
        == summary.ingest["examples_written"] + summary.ingest["quarantined"]
    )
    # The first span has no served span to drift from.
    assert "first span" in summary.span_drift["compared_with"]["why"]

    # 2) The pushed SavedModel answers serving_default with raw encoded bytes.
    loaded = tf.saved_model.load(summary.pushed_path)
    serve = loaded.signatures["serving_default"]
    files = sorted(glob.glob(str(data / "span-1" / "*" / "*")))[::7]
    out = serve(**{features.SERVING_INPUT_KEY: tf.constant([open(f, "rb").read() for f in files])})
    truth = np.array([os.path.basename(os.path.dirname(f)) for f in files])
    names = out[features.OUTPUT_LABEL_NAMES].numpy().astype(str)
    probs = out[features.OUTPUT_PROBABILITIES].numpy()
    assert probs.shape == (len(files), 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    assert set(names) <= set(truth)
    assert (names == truth).mean() >= 0.5

    # 2b) Error analysis: TFMA's confusion matrix, per-class precision/recall and
    #     top-2 accuracy (top-5 skipped: 5 classes), and the trainer's JSON and PNGs
    #     from the same model on the same eval split.
    assert (
        0.5 <= summary.metrics["top_2_accuracy"] <= 1.0 and "top_5_accuracy" not in summary.metrics
    )
    assert len(summary.per_class_precision_recall) == 5
    matrix = np.array(summary.confusion_matrix)
    assert matrix.sum() == summary.metrics["example_count"]
    analysis_dir = summary.error_analysis_dir
    analysis = json.load(open(os.path.join(analysis_dir, error_analysis.REPORT_JSON)))
    np.testing.assert_array_equal(analysis["confusion_matrix"], matrix)
    for png in (error_analysis.CONFUSION_PNG, error_analysis.WRONG_PNG):
        assert open(os.path.join(analysis_dir, png), "rb").read(4) == b"\x89PNG"

    # 2c) The TFLite copy was pushed inside the version, passed the gate, and answers
    #     on the same images as the SavedModel (input: the decoded, resized tensor).
    assert summary.tflite["passed"] and summary.tflite["accuracy_drop"] <= config.tflite_max_drop
    tflite_dir = os.path.join(summary.pushed_path, tflite_export.TFLITE_DIR)
    lite = tflite_export.TFLiteClassifier(
        open(os.path.join(tflite_dir, tflite_export.MODEL_FILE), "rb").read()
    )
    lite_names = open(os.path.join(tflite_dir, tflite_export.LABELS_FILE)).read().split()
    store = open_store(metadata_path(config.resolved_pipeline_root))
    transform = tft.TFTransformOutput(latest_artifact(store, "TransformGraph").uri)
    raw = tf.constant([[open(f, "rb").read()] for f in files])
    encoded = transform.transform_features_layer()({features.IMAGE_KEY: raw})[IMAGE_XF_KEY]
    pixels = decode_pixels(encoded, lite.input_shape)
    lite_probs = lite.predict(to_unit_range(pixels).numpy())
    assert (lite_probs.argmax(axis=1) == probs.argmax(axis=1)).mean() >= 0.9
    lite_accuracy = (np.array(lite_names)[lite_probs.argmax(axis=1)] == truth).mean()
    assert lite_accuracy >= (names == truth).mean() - config.tflite_max_drop - 1 / len(files)


def test_first_push_carries_span_counts_tfma_metrics_bounds_and_renders_offline(
    first_run, tmp_path, open_in_chromium
):
    config, summary = first_run
    record = read_provenance(summary.pushed_path)
    data_section = record["data"]
    assert data_section["files_seen"] == 500 and data_section["input_fingerprint"]
    assert data_section["span"] == 1 and data_section["quarantined"] == 0
    assert sum(data_section["examples_per_split"].values()) == 500
    assert set(data_section["record_files_per_split"]) == {"train", "eval"}
    evaluation = record["evaluation"]
    assert evaluation["blessed"] is True and evaluation["baseline"] is None
    assert 0.5 <= evaluation["value"] <= 1.0 and len(evaluation["per_class_accuracy"]) == 5
    assert record["trainer"]["epochs"] == 25
    assert 1 <= record["metrics"]["training"]["epochs_run"] <= 25
    # Blessed without a baseline: the value bound applied (on every class too), no
    # change bound; the TFLite copy's bound beside it.
    assert evaluation["thresholds"] == {
        "min_accuracy": 0.5,
        "slices": ["overall", "each label_name"],
        "tflite_max_accuracy_drop": config.tflite_max_drop,
    }
    out = str(tmp_path / "report.html")
    assert main(["report", config.model_name, "--home", config.home, "--out", out]) == 0
    page = open(out).read()
    assert "<iframe" not in page and "http://" not in page and "https://" not in page
    assert "feature histograms (TFDV statistics)" in page and "label_name" in page
    loaded, total, errors, overflow = open_in_chromium(out, tmp_path)
    assert total >= 4 and loaded == total and errors == 0 and not overflow


def test_unchanged_inputs_come_from_the_cache_and_a_new_span_retrains(spans, first_run):
    data, later_span = spans
    config, summary = first_run
    model_dir = os.path.join(config.resolved_serving_base, config.model_name)
    (version,) = _versions(model_dir)

    # 3) Unchanged inputs: data and training come from the cache. The Evaluator
    #    re-runs (its baseline is now the blessed model itself) and the Pusher
    #    sees the identical model already served: no new version.
    run_image_pipeline(config)
    states = _latest_states(config.resolved_pipeline_root)
    cached = metadata_store_pb2.Execution.CACHED
    for name in ("ImageExampleGen", "StatisticsGen", "SchemaGen", "ImageTransform", "Trainer"):
        assert states[name] == cached, name
    assert _versions(model_dir) == [version]

    # 4) A new span trains again and is evaluated against the blessed model.
    shutil.copytree(later_span, data / "span-2")
    # Whatever it trains, it is gated against the served model (both outcomes are
    # checked below); 250 optimizer steps instead of the first run's 625 keep it cheap.
    cheaper = dataclasses.replace(config.trainer, epochs=10, min_steps=0)
    summary2 = run_image_pipeline(dataclasses.replace(config, trainer=cheaper))
    assert summary2.evaluation_uri != summary.evaluation_uri
    # span-2 is drawn like span-1: SpanDrift compares them and finds no drift.
    assert summary2.span_drift["compared_with"]["span"] == 1
    assert summary2.span_drift["drifted"] == []
    if summary2.blessed:
        assert len(_versions(model_dir)) == 2 and _versions(model_dir)[0] == version
    else:
        assert _versions(model_dir) == [version]
