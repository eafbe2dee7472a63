"""Real photos end to end: MobileNetV3Small from scratch, then from a local weights file.

The photos are crops of the sample photos bundled with scikit-learn and
scikit-image (`vrl.demo_photos`), JPEG at 64-128 px, a quarter stored
sideways with an EXIF Orientation tag, classes imbalanced 2:1. Both runs
share one pipeline root, so the second reuses ingest, validation and
Transform from the cache and only trains, evaluates and pushes again. The
pushed model is served by the local server and answers raw JPEG bytes.
Kept small for CI: 64 px, 44 images, one epoch per phase.
"""

from __future__ import annotations

import base64
import dataclasses
import glob
import json
import os
import urllib.request

import numpy as np
import pytest
from ml_metadata.proto import metadata_store_pb2
from PIL import Image

from models.cnn import backbones, error_analysis
from models.cnn.config import TrainerConfig
from pipeline.image_config import ImagePipelineConfig
from serving.server import start_server
from vrl import demo_photos
from vrl.local import run_image_pipeline
from vrl.results import open_store
from vrl.runner import metadata_path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SIZE = 64
CLASSES = ("china", "flower", "cat")


def _predict(port: int, model: str, images: list[bytes]) -> list[dict]:
    body = {"instances": [{"b64": base64.b64encode(b).decode()} for b in images]}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/models/{model}:predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["predictions"]


def _states(pipeline_root: str) -> dict[str, int]:
    store = open_store(metadata_path(pipeline_root))
    latest = {}
    for e in sorted(store.get_executions(), key=lambda e: e.id):
        latest[e.type.rsplit(".", 1)[-1]] = e.last_known_state
    return latest


def test_mobilenet_from_scratch_then_from_local_weights_pushes_and_serves_jpeg_bytes(tmp_path):
    data = demo_photos.make_photos(
        str(tmp_path / "photos"), classes=CLASSES, per_class=20, sizes=(64, 96, 128), imbalance=2.0
    )
    assert data["exif_tagged"] > 0
    common = dict(
        data_dir=data["path"],
        home=str(tmp_path / "home"),
        image_size=SIZE,
        eval_fraction=0.35,  # every class in the eval split, even with 44 photos
        min_accuracy=0.0,  # one epoch on 35 photos: the gate is not what is tested here
        max_accuracy_drop=1.0,
    )
    trainer = TrainerConfig(arch="mobilenet_v3_small", epochs=1, batch_size=8, sanity_checks=False)
    first = run_image_pipeline(
        ImagePipelineConfig(trainer=dataclasses.replace(trainer, weights="none"), **common)
    )
    assert first.blessed and first.pushed

    weights = backbones.save_backbone_weights(
        "mobilenet_v3_small", SIZE, str(tmp_path / "mobilenet_v3_small.weights.h5")
    )
    trainer = dataclasses.replace(trainer, weights=weights, fine_tune_epochs=1, fine_tune_layers=10)
    config = ImagePipelineConfig(trainer=trainer, **common)
    second = run_image_pipeline(config)
    assert second.blessed and second.pushed and second.pushed_path != first.pushed_path
    states = _states(config.resolved_pipeline_root)
    for name in ("ImageExampleGen", "SchemaGen", "ImageTransform"):
        assert states[name] == metadata_store_pb2.Execution.CACHED, name
    # TFMA's per-class recall (one-vs-rest, the top class predicted) is the trainer's
    # on the same model and eval split, and equals the class's slice accuracy.
    analysis = json.load(open(os.path.join(second.error_analysis_dir, error_analysis.REPORT_JSON)))
    assert set(second.per_class_precision_recall) == set(analysis["per_class"]) == set(CLASSES)
    for name, stats in analysis["per_class"].items():
        tfma_recall = second.per_class_precision_recall[name]["recall"]
        assert tfma_recall == pytest.approx(stats["recall"]), name
        assert second.per_class[name] == pytest.approx(tfma_recall), name
    print(
        f"\nphotos e2e eval accuracy: from scratch "
        f"{first.metrics.get('sparse_categorical_accuracy'):.3f}, local weights + fine-tune "
        f"{second.metrics.get('sparse_categorical_accuracy'):.3f}"
    )

    # Serve the pushed versions; send raw JPEG bytes, one of them EXIF-rotated.
    handle = start_server(config.resolved_serving_base, grpc_port=None, rest_port=0)
    try:
        handle.wait_until_available(config.model_name)
        files = sorted(glob.glob(os.path.join(data["path"], "*", "*.jpg")))[::5]
        upright = Image.open(files[0])
        upright.load()
        pair = [demo_photos.exif_jpeg(upright, 1, 95), demo_photos.exif_jpeg(upright, 6, 95)]
        images = [open(f, "rb").read() for f in files] + pair
        once = _predict(handle.rest_port, config.model_name, images)
        twice = _predict(handle.rest_port, config.model_name, images)
    finally:
        handle.stop()
    probs = np.array([p["probabilities"] for p in once])
    assert probs.shape == (len(images), len(CLASSES))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    assert {p["label_names"] for p in once} <= set(CLASSES)
    # Augmentation is off at serving: the same bytes give the same answer.
    np.testing.assert_array_equal(probs, np.array([p["probabilities"] for p in twice]))
    # The sideways-stored copy is turned upright in the serving graph too.
    np.testing.assert_allclose(probs[-1], probs[-2], atol=0.05)
