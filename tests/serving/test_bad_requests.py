"""Every kind of bad request gets TF Serving's status code and a clear message,
and the server keeps answering afterwards."""

from __future__ import annotations

import base64
import http.client
import json

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.client import RestClient

OBS = [[0.1, 0.2, 0.3, 0.4]]
C = grpc.StatusCode


def _predict(model="cnn", version=None, label="", signature="", inputs=None, output_filter=()):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    if label:  # version and version_label are a oneof: setting one clears the other
        request.model_spec.version_label = label
    request.model_spec.signature_name = signature
    for name, value in (inputs or {}).items():
        proto = (
            value if isinstance(value, type(request.inputs[name])) else tf.make_tensor_proto(value)
        )
        request.inputs[name].CopyFrom(proto)
    request.output_filter.extend(output_filter)
    return request


def _image(helpers) -> dict:
    return {"image_bytes": np.array([helpers.png_bytes()], dtype=object)}


def _truncated_tensor():
    proto = tf.make_tensor_proto(np.zeros((1, 4), np.float32))
    proto.tensor_content = proto.tensor_content[:5]
    return proto


def _examples_input(message, helpers):
    example = message.input.example_list.examples.add()
    example.features.feature["image"].bytes_list.value.append(helpers.png_bytes())
    message.model_spec.name = "cnn"
    return message


# (case id, method, request builder, expected code, substring of the message)
# fmt: off
GRPC_CASES = [
    ("unknown model", "Predict", lambda h: _predict("nope", inputs=_image(h)), C.NOT_FOUND, "nope"),
    ("unknown version", "Predict", lambda h: _predict(version=7, inputs=_image(h)), C.NOT_FOUND, "Specific(cnn, 7)"),
    ("unknown label", "Predict", lambda h: _predict(label="canary", inputs=_image(h)), C.INVALID_ARGUMENT, "label: canary"),
    ("unknown signature", "Predict", lambda h: _predict(signature="nope", inputs=_image(h)), C.FAILED_PRECONDITION, '"nope" not found'),
    ("unknown input", "Predict", lambda h: _predict(inputs={**_image(h), "extra": [1.0]}), C.INVALID_ARGUMENT, "alias not found in signature: extra"),
    ("missing input", "Predict", lambda h: _predict("policy", signature="action", inputs={"0/observation": np.array(OBS, np.float32)}), C.INVALID_ARGUMENT, "missing ['0/discount'"),
    ("wrong dtype", "Predict", lambda h: _predict(inputs={"image_bytes": np.array([1.0], np.float32)}), C.INVALID_ARGUMENT, "to be string but float32 is provided"),
    ("wrong shape", "Predict", lambda h: _predict("policy", inputs={"observation": np.zeros((1, 3), np.float32)}), C.INVALID_ARGUMENT, "has shape [1, 3], expected ['?', 4]"),
    ("empty batch", "Predict", lambda h: _predict("policy", inputs={"observation": np.zeros((0, 4), np.float32)}), C.INVALID_ARGUMENT, "empty batch"),
    ("not an image", "Predict", lambda h: _predict(inputs={"image_bytes": np.array([b"not a png"], dtype=object)}), C.INVALID_ARGUMENT, "Unknown image file format"),
    ("malformed tensor", "Predict", lambda h: _predict("policy", inputs={"observation": _truncated_tensor()}), C.INVALID_ARGUMENT, "malformed TensorProto"),
    ("unknown output filter", "Predict", lambda h: _predict(inputs=_image(h), output_filter=["logits"]), C.INVALID_ARGUMENT, "output tensor alias not found in signature: logits"),
    ("oversized message", "Predict", lambda h: _predict(inputs={"image_bytes": np.array([b"x" * (h.MAX_REQUEST_BYTES + 10)], dtype=object)}), C.RESOURCE_EXHAUSTED, "larger than max"),
    ("metadata field", "GetModelMetadata", lambda h: get_model_metadata_pb2.GetModelMetadataRequest(model_spec={"name": "cnn"}, metadata_field=["graph"]), C.INVALID_ARGUMENT, "Metadata field graph is not supported"),
    ("no metadata field", "GetModelMetadata", lambda h: get_model_metadata_pb2.GetModelMetadataRequest(model_spec={"name": "cnn"}), C.INVALID_ARGUMENT, "at least one metadata_field"),
    ("classify on predict signature", "Classify", lambda h: _examples_input(classification_pb2.ClassificationRequest(), h), C.INVALID_ARGUMENT, "Expected one or two output Tensors, found 3"),
    ("regress on predict signature", "Regress", lambda h: _examples_input(regression_pb2.RegressionRequest(), h), C.INVALID_ARGUMENT, "Expected one output Tensor."),
    ("status of unknown model", "GetModelStatus", lambda h: get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "nope"}), C.NOT_FOUND, "Could not find any versions of model nope"),
    ("status of unknown version", "GetModelStatus", lambda h: get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "cnn", "version": {"value": 9}}), C.NOT_FOUND, "version 9 of model cnn"),
    ("reload with bad platform", "HandleReloadConfigRequest", lambda h: model_management_pb2.ReloadConfigRequest(config={"model_config_list": {"config": [{"name": "x", "base_path": "/x", "model_platform": "pytorch"}]}}), C.INVALID_ARGUMENT, "model_platform 'pytorch'"),
]
# fmt: on


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield ch


@pytest.mark.parametrize(
    "case, method, build, code, text", GRPC_CASES, ids=[c[0] for c in GRPC_CASES]
)
def test_grpc_bad_request_gets_status(channel, helpers, case, method, build, code, text):
    service = (
        model_service_pb2_grpc
        if method in ("GetModelStatus", "HandleReloadConfigRequest")
        else prediction_service_pb2_grpc
    )
    stub_cls = (
        service.ModelServiceStub
        if service is model_service_pb2_grpc
        else service.PredictionServiceStub
    )
    with pytest.raises(grpc.RpcError) as raised:
        getattr(stub_cls(channel), method)(build(helpers), timeout=30)
    assert raised.value.code() == code, raised.value.details()
    assert text in raised.value.details()


def test_grpc_undecodable_request_bytes_fail_without_harm(channel, server, helpers):
    raw = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
    with pytest.raises(grpc.RpcError) as raised:
        raw(b"\xff\xff\xff\xff not a protobuf", timeout=30)
    assert raised.value.code() == C.INTERNAL
    ok = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
        _predict(inputs=_image(helpers)), timeout=30
    )
    assert ok.model_spec.version.value == 1


def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


PNG = "PNG"  # replaced by a real base64 image at run time
# (case id, method, path, body (str = raw), expected HTTP status, substring of the error)
# fmt: off
REST_CASES = [
    ("unknown model", "POST", "/v1/models/nope:predict", {"instances": [PNG]}, 404, "nope"),
    ("unknown version", "POST", "/v1/models/cnn/versions/7:predict", {"instances": [PNG]}, 404, "Specific(cnn, 7)"),
    ("unknown label", "POST", "/v1/models/cnn/labels/canary:predict", {"instances": [PNG]}, 400, "label: canary"),
    ("unknown signature", "POST", "/v1/models/cnn:predict", {"signature_name": "nope", "instances": [PNG]}, 400, '"nope" not found'),
    ("unknown input", "POST", "/v1/models/cnn:predict", {"inputs": {"pixels": [PNG]}}, 400, "alias not found in signature: pixels"),
    ("missing named input", "POST", "/v1/models/policy:predict", {"signature_name": "action", "instances": [{"0/observation": OBS[0]}]}, 400, "missing ['0/discount'"),
    ("wrong dtype", "POST", "/v1/models/policy:predict", {"instances": [["a", "b", "c", "d"]]}, 400, "expected a number"),
    ("number for string input", "POST", "/v1/models/cnn:predict", {"instances": [1.5]}, 400, "expected a string"),
    ("wrong shape", "POST", "/v1/models/policy:predict", {"instances": [[0.1, 0.2, 0.3]]}, 400, "has shape [1, 3]"),
    ("bad base64", "POST", "/v1/models/cnn:predict", {"instances": [{"b64": "@@not base64@@"}]}, 400, "base64"),
    ("malformed JSON", "POST", "/v1/models/cnn:predict", '{"instances": [', 400, "JSON Parse error"),
    ("non-object JSON", "POST", "/v1/models/cnn:predict", "[1, 2]", 400, "must be a JSON object"),
    ("empty batch", "POST", "/v1/models/cnn:predict", {"instances": []}, 400, "non-empty list"),
    ("missing inputs", "POST", "/v1/models/cnn:predict", {"signature_name": "serving_default"}, 400, "Missing 'inputs' or 'instances'"),
    ("both formats", "POST", "/v1/models/cnn:predict", {"instances": [PNG], "inputs": [PNG]}, 400, "exactly one"),
    ("mixed row lengths", "POST", "/v1/models/policy:predict", {"instances": [[0.1, 0.2, 0.3, 0.4], [0.1]]}, 400, "mixed row lengths"),
    ("not an image", "POST", "/v1/models/cnn:predict", {"instances": [_b64(b"not an image")]}, 400, "Unknown image file format"),
    ("bad version in URL", "POST", "/v1/models/cnn/versions/abc:predict", {"instances": [PNG]}, 400, "Malformed request"),
    ("GET on predict", "GET", "/v1/models/cnn:predict", None, 400, "Malformed request"),
    ("unknown path", "GET", "/v2/whatever", None, 404, "Not found"),
    ("classify with no examples", "POST", "/v1/models/cnn:classify", {"examples": []}, 400, "non-empty list of objects"),
    ("classify on predict signature", "POST", "/v1/models/cnn:classify", {"examples": [{"image": PNG}]}, 400, "Expected one or two output Tensors, found 3"),
    ("regress feature of mixed kinds", "POST", "/v1/models/cnn:regress", {"examples": [{"x": [1, "a"]}]}, 400, "feature 'x'"),
    ("status of unknown model", "GET", "/v1/models/nope", None, 404, "Could not find any versions"),
    ("metadata of unknown version", "GET", "/v1/models/cnn/versions/3/metadata", None, 404, "Specific(cnn, 3)"),
]
# fmt: on


def _send(port: int, method: str, path: str, body) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = (
            None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
        )
        conn.request(method, path, body=data)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize(
    "case, method, path, body, status, text", REST_CASES, ids=[c[0] for c in REST_CASES]
)
def test_rest_bad_request_gets_http_error(server, helpers, case, method, path, body, status, text):
    if isinstance(body, dict):
        body = json.loads(
            json.dumps(body).replace(f'"{PNG}"', json.dumps(_b64(helpers.png_bytes())))
        )
    got, payload = _send(server.rest_port, method, path, body)
    assert got == status, payload
    assert set(payload) == {"error"}
    assert text in payload["error"]


def test_rest_oversized_body_is_refused_unread_with_429(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    try:
        conn.putrequest("POST", "/v1/models/cnn:predict")
        conn.putheader("Content-Length", str(10 * (1 << 20)))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 429  # RESOURCE_EXHAUSTED in TF Serving's ToHTTPStatusCode
        assert "exceeds the limit" in json.loads(response.read())["error"]
    finally:
        conn.close()


def test_server_still_answers_after_every_bad_request(server, helpers):
    rest = RestClient(f"127.0.0.1:{server.rest_port}")
    try:
        assert rest.predict_images("cnn", [helpers.png_bytes()])[0]["label_names"] == "cat"
        assert rest.request("GET", "/healthz")["status"] == "ok"
    finally:
        rest.close()
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        response = prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict(
            _predict("policy", inputs={"observation": np.array(OBS, np.float32)}), timeout=30
        )
    assert list(response.outputs["action"].int64_val) == [0]
