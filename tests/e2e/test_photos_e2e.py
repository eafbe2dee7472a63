"""Real photos end to end, as a user runs them: the default convnet, sanity checks on.

The photos are crops of the sample photos bundled with scikit-learn and
scikit-image (`vrl.demo_photos`), JPEG at 64-128 px, a quarter stored
sideways with an EXIF Orientation tag, classes imbalanced 2:1. One pipeline
run with the trainer's defaults (epochs, min_steps, early stopping) and the
gate's default --min-accuracy must push a model that answers more than one
class, well above chance; the pushed model is served by the local server and
answers raw JPEG bytes. (The backbones from scratch are trainer-level tests:
tests/models/cnn/test_trainer_learns.py.)
"""

from __future__ import annotations

import base64
import glob
import json
import os
import urllib.request

import numpy as np
import pytest
from PIL import Image

from models.cnn import error_analysis
from pipeline.image_config import ImagePipelineConfig
from serving.options import ServerOptions
from serving.server import start_server
from vrl import demo_photos
from vrl.local import run_image_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

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


def test_default_convnet_with_sanity_checks_pushes_a_model_that_tells_photos_apart(tmp_path):
    data = demo_photos.make_photos(
        str(tmp_path / "photos"), classes=CLASSES, per_class=20, sizes=(64, 96, 128), imbalance=2.0
    )
    assert data["exif_tagged"] > 0
    config = ImagePipelineConfig(
        data_dir=data["path"],
        home=str(tmp_path / "home"),
        eval_fraction=0.35,  # every class in the eval split, even with 45 photos
    )
    run = run_image_pipeline(config)
    assert run.blessed and run.pushed
    assert run.metrics.get("sparse_categorical_accuracy") >= config.min_accuracy
    # TFMA's per-class recall (one-vs-rest, the top class predicted) is the trainer's
    # on the same model and eval split, and equals the class's slice accuracy.
    analysis = json.load(open(os.path.join(run.error_analysis_dir, error_analysis.REPORT_JSON)))
    assert set(run.per_class_precision_recall) == set(analysis["per_class"]) == set(CLASSES)
    for name, stats in analysis["per_class"].items():
        tfma_recall = run.per_class_precision_recall[name]["recall"]
        assert tfma_recall == pytest.approx(stats["recall"]), name
        assert run.per_class[name] == pytest.approx(tfma_recall), name

    # Serve the pushed version; send raw JPEG bytes, one of them EXIF-rotated.
    handle = start_server(
        ServerOptions(model_base=config.resolved_serving_base, grpc_port=None, rest_port=0)
    )
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
    # It tells the photos apart: several classes answered, mostly the right ones.
    truth = [os.path.basename(os.path.dirname(f)) for f in files]
    answered = [p["label_names"] for p in once[: len(files)]]
    assert len(set(answered)) >= 2, answered
    assert np.mean([a == t for a, t in zip(answered, truth, strict=True)]) >= 0.7
    # Augmentation is off at serving: the same bytes give the same answer.
    np.testing.assert_array_equal(probs, np.array([p["probabilities"] for p in twice]))
    # The sideways-stored copy is turned upright in the serving graph too.
    np.testing.assert_allclose(probs[-1], probs[-2], atol=0.05)
