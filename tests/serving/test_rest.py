"""REST API as TF Serving documents it, plus metrics and health endpoints."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from serving.client import RestClient


@pytest.fixture(scope="module")
def rest(server):
    client = RestClient(f"http://127.0.0.1:{server.rest_port}")
    yield client
    client.close()


def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


def test_status_lists_available_version(rest):
    assert rest.status("cnn") == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert rest.status("cnn", version=1)["model_version_status"][0]["version"] == "1"


def test_metadata_returns_signature_defs_in_proto_json(rest):
    meta = rest.metadata("cnn")
    assert meta["model_spec"] == {"name": "cnn", "signature_name": "", "version": "1"}
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    image_input = sigs["serving_default"]["inputs"]["image_bytes"]
    assert image_input["dtype"] == "DT_STRING"
    assert sigs["serving_default"]["method_name"] == "tensorflow/serving/predict"


def test_predict_row_format_with_base64_images(rest, helpers):
    body = {"instances": [_b64(helpers.png_bytes(1)), _b64(helpers.jpeg_bytes(2))]}
    predictions = rest.predict("cnn", body)["predictions"]
    assert len(predictions) == 2
    assert predictions[0]["label_names"] == "cat"
    assert predictions[0]["class_ids"] == 0
    assert len(predictions[0]["probabilities"]) == len(helpers.LABELS)
    assert sum(predictions[1]["probabilities"]) == pytest.approx(1.0, rel=1e-5)


def test_predict_columnar_format_and_version_url(rest, helpers):
    body = {
        "signature_name": "serving_default",
        "inputs": {"image_bytes": [_b64(helpers.png_bytes())]},
    }
    outputs = rest.predict("cnn", body, version=1)["outputs"]
    assert outputs["label_names"] == ["cat"]
    assert np.asarray(outputs["probabilities"]).shape == (1, len(helpers.LABELS))


def test_predict_policy_row_format_returns_action_and_q_values(rest):
    predictions = rest.act("policy", [[1.0, 0.0, 0.0, 0.0], [-1.0, -1.0, 0.0, 0.0]])
    assert [p["action"] for p in predictions] == [0, 1]
    assert predictions[1]["q_values"] == [-3.0, 3.0]


def test_metrics_endpoint_uses_tf_serving_names_labels_and_microseconds(rest, helpers):
    rest.predict_images("cnn", [helpers.png_bytes()])
    text = rest.request("GET", "/monitoring/prometheus/metrics")
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    counts = [
        line
        for line in text.splitlines()
        if line.startswith(':tensorflow:serving:request_count{model_name="cnn",status="OK"} ')
    ]
    assert counts and int(counts[0].rsplit(" ", 1)[1]) >= 1
    prefix = ':tensorflow:serving:request_latency_bucket{model_name="cnn",API="predict",'
    buckets = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(buckets) == 34  # Exponential(10, 1.8, 33) + Inf
    assert buckets[0].startswith(prefix + 'entrypoint="REST",le="10"}')
    assert "_created" not in text and "_total" not in text


def test_health_endpoint_lists_loaded_versions(rest):
    health = rest.request("GET", "/healthz")
    assert health == {"status": "ok", "models": {"cnn": [1], "policy": [1]}}
