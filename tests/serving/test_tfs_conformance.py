"""Conformance with TF Serving: `vrl serve` started with tensorflow_model_server's own flags.

Every expectation cites where TF Serving defines it (paths under tensorflow_serving/
in the tensorflow/serving repository, or g3doc/api_rest.md). The model is an
MNIST-style TF1 SavedModelBuilder export, as TF Serving's mnist_saved_model.py
writes it; the clients are written like TF Serving's example/mnist_client.py.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import urllib.error
import urllib.request

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
)
from tensorflow_serving.config import model_server_config_pb2

from contracts.warmup import write_warmup_file

MAX_MESSAGE = 1 << 20
METRICS_PATH = "/custom/metrics"


@pytest.fixture(scope="module")
def tfs(tmp_path_factory, foreign_models, helpers, vrl_serve):
    """`vrl serve --port P --rest_api_port Q --model_name mnist --model_base_path DIR ...`."""
    root = tmp_path_factory.mktemp("tfs")
    base = root / "mnist"
    helpers.push(foreign_models["mnist"], str(base), 1)
    v2 = helpers.push(foreign_models["mnist"], str(base), 2)
    # Pushed versions are read-only only by convention; add a warmup file to version 2.
    warm = [_predict_request(helpers.mnist_digit(d)) for d in range(3)]
    write_warmup_file(v2, warm)
    monitoring = root / "monitoring.config"
    monitoring.write_text(f'prometheus_config {{ enable: true, path: "{METRICS_PATH}" }}\n')
    grpc_port, rest_port = vrl_serve.free_port(), vrl_serve.free_port()
    server = vrl_serve(
        [
            f"--port={grpc_port}",
            f"--rest_api_port={rest_port}",
            "--model_name=mnist",
            f"--model_base_path={base}",
            f"--monitoring_config_file={monitoring}",
            f"--grpc_channel_arguments=grpc.max_receive_message_length={MAX_MESSAGE}",
            "--file_system_poll_wait_seconds=1",
            # What a Kubernetes manifest for tensorflow/serving commonly carries as well.
            "--rest_api_timeout_in_ms=30000",
            "--enable_grpc_healthcheck_service=true",
            "--saved_model_tags=serve",
            "--tensorflow_session_parallelism=1",
            "--enable_model_warmup=true",
            "--model_config_file_poll_wait_seconds=0",
            "--flush_filesystem_caches=false",
            "--num_load_threads=2",
            "--enable_profiler=false",
        ]
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    yield {
        "channel": channel,
        "base": str(base),
        "rest": f"http://127.0.0.1:{rest_port}",
        "predict": prediction_service_pb2_grpc.PredictionServiceStub(channel),
        "models": model_service_pb2_grpc.ModelServiceStub(channel),
    }
    channel.close()
    server.stop()


def _predict_request(image: np.ndarray, signature: str = "predict_images", **spec):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mnist"
    request.model_spec.signature_name = signature
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(image, shape=[1, image.size]))
    return request


def _http(url: str, body: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# gRPC ------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["", "ModelService", "PredictionService"])
def test_grpc_health_check_is_serving_with_the_flag(tfs, service):
    # model_servers/server.cc: --enable_grpc_healthcheck_service sets both services
    # SERVING. The raw bytes are grpc/health/v1/health.proto's wire format:
    # HealthCheckRequest{service = 1} -> HealthCheckResponse{status = 1 (SERVING)}.
    check = tfs["channel"].unary_unary("/grpc.health.v1.Health/Check")
    request = b"\x0a" + bytes([len(service)]) + service.encode() if service else b""
    assert check(request, timeout=10) == b"\x08\x01"
    with pytest.raises(grpc.RpcError) as raised:
        check(b"\x0a\x07Unknown", timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_predict_outputs_typed_val_fields_not_tensor_content(tfs, helpers):
    # servables/tensorflow/predict_util.cc: Tensor::AsProtoField unless
    # --enable_serialization_as_tensor_content.
    response = tfs["predict"].Predict(_predict_request(helpers.mnist_digit(7)), 10.0)
    scores, classes = response.outputs["scores"], response.outputs["classes"]
    assert not scores.tensor_content and len(scores.float_val) == 10
    assert [d.size for d in scores.tensor_shape.dim] == [1, 10]
    assert int(np.argmax(scores.float_val)) == 7
    assert classes.string_val[0] == b"7" and len(classes.string_val) == 10
    assert response.model_spec.name == "mnist" and response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "predict_images"


def test_mnist_client_style_async_futures_with_concurrency(tfs, helpers):
    # example/mnist_client.py: stub.Predict.future(request, 5.0), a done-callback reading
    # outputs['scores'].float_val, and at most `concurrency` requests in flight.
    num_tests, concurrency = 40, 8
    condition = threading.Condition()
    state = {"active": 0, "done": 0, "errors": 0}

    def callback(label, future):
        exception = future.exception()
        with condition:
            if (
                exception
                or int(np.argmax(np.array(future.result().outputs["scores"].float_val))) != label
            ):
                state["errors"] += 1
            state["done"] += 1
            state["active"] -= 1
            condition.notify()

    for i in range(num_tests):
        label = i % 10
        request = _predict_request(helpers.mnist_digit(label, noise_seed=i))
        with condition:
            while state["active"] == concurrency:
                condition.wait()
            state["active"] += 1
        future = tfs["predict"].Predict.future(request, 5.0)
        future.add_done_callback(lambda f, label=label: callback(label, f))
    with condition:
        while state["done"] != num_tests:
            condition.wait(30)
    assert state["errors"] == 0


def test_classify_on_tf1_classification_signature(tfs, helpers):
    # servables/tensorflow/classifier.cc: one Classifications per example, label + score.
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "mnist"
    example = request.input.example_list.examples.add()
    example.features.feature["x"].float_list.value.extend(helpers.mnist_digit(3).tolist())
    response = tfs["predict"].Classify(request, 10.0)
    [result] = response.result.classifications
    assert result.classes[0].label == "3" and result.classes[0].score > 0.9
    assert len(result.classes) == 10 and response.model_spec.signature_name == "serving_default"


def test_regress_on_classification_signature_is_invalid_argument(tfs, helpers):
    # servables/tensorflow/regressor.cc PreProcessRegression: "Expected one output Tensor."
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "mnist"
    request.input.example_list.examples.add()
    with pytest.raises(grpc.RpcError) as raised:
        tfs["predict"].Regress(request, 10.0)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "Expected one output Tensor."


def test_metadata_returns_signature_def_map(tfs):
    # servables/tensorflow/get_model_metadata_impl.cc
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "mnist"
    response = tfs["predict"].GetModelMetadata(request, 10.0)
    sdm = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sdm)
    assert sdm.signature_def["predict_images"].method_name == "tensorflow/serving/predict"
    assert set(sdm.signature_def["predict_images"].outputs) == {"scores", "classes"}
    assert response.model_spec.version.value == 2


def test_status_ignores_label_and_unknown_version_is_not_found(tfs):
    # model_servers/get_model_status_impl.cc: only has_version() narrows the answer.
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "mnist"
    request.model_spec.version_label = "whatever"
    [status] = tfs["models"].GetModelStatus(request, 10.0).model_version_status
    assert status.version == 2 and status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    request.model_spec.version.value = 9
    with pytest.raises(grpc.RpcError) as raised:
        tfs["models"].GetModelStatus(request, 10.0)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == "Could not find version 9 of model mnist"


def test_oversized_grpc_message_is_resource_exhausted(tfs):
    # model_servers/server.cc honours grpc_channel_arguments (max_receive_message_length).
    big = np.zeros(MAX_MESSAGE // 4 + 1000, np.float32)
    with pytest.raises(grpc.RpcError) as raised:
        tfs["predict"].Predict(_predict_request(big), 10.0)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_model_error_carries_no_server_stack_frames(tfs):
    request = _predict_request(np.zeros(5, np.float32))
    with pytest.raises(grpc.RpcError) as raised:
        tfs["predict"].Predict(request, 10.0)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = raised.value.details()
    assert 'File "' not in details and ".py" not in details and os.sep + "serving" not in details


def test_reload_labels_only_available_versions(tfs, helpers):
    # model_servers/server_core.cc UpdateModelVersionLabelMap: FAILED_PRECONDITION for a
    # label on a version that is not AVAILABLE; a base path that does not exist is refused.
    def reload(versions, labels=None, base=tfs["base"]):
        config = model_server_config_pb2.ModelServerConfig()
        entry = config.model_config_list.config.add(name="mnist", base_path=base)
        entry.model_version_policy.specific.versions.extend(versions)
        for label, version in (labels or {}).items():
            entry.version_labels[label] = version
        return tfs["models"].HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), 60.0
        )

    with pytest.raises(grpc.RpcError) as raised:
        reload([1, 2], {"stable": 1})  # version 1 is not loaded yet
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "which is not currently available for inference" in raised.value.details()
    with pytest.raises(grpc.RpcError) as raised:
        reload([2], base=tfs["base"] + "-missing")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Could not find base path" in raised.value.details()
    assert reload([1, 2]).status.error_code == 0  # load both, then label
    assert reload([1, 2], {"stable": 1}).status.error_code == 0
    image = helpers.mnist_digit(4)
    response = tfs["predict"].Predict(_predict_request(image, version_label="stable"), 10.0)
    assert response.model_spec.version.value == 1
    with pytest.raises(grpc.RpcError) as raised:
        tfs["predict"].Predict(_predict_request(image, version_label="canary"), 10.0)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "Unrecognized servable version label: canary"
    # Back to the single-model policy (latest); version 1 unloads and reports END.
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name="mnist", base_path=tfs["base"])
    tfs["models"].HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=config), 60.0
    )
    status, body = _http(tfs["rest"] + "/v1/models/mnist/versions/1")
    assert status == 200 and json.loads(body)["model_version_status"][0]["state"] == "END"


# REST (g3doc/api_rest.md, model_servers/http_rest_api_handler.cc) ------------


def test_rest_status_json_prints_default_fields(tfs):
    # model_servers/http_rest_api_util.cc ToJsonString: always_print_fields_with_no_presence.
    status, body = _http(tfs["rest"] + "/v1/models/mnist/versions/2")
    assert status == 200
    assert json.loads(body) == {
        "model_version_status": [
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


def test_rest_metadata_json_prints_default_fields(tfs):
    status, body = _http(tfs["rest"] + "/v1/models/mnist/metadata")
    assert status == 200
    doc = json.loads(body)
    assert doc["model_spec"] == {"name": "mnist", "signature_name": "", "version": "2"}
    images = doc["metadata"]["signature_def"]["signature_def"]["predict_images"]["inputs"]["images"]
    assert images["dtype"] == "DT_FLOAT"
    assert images["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}, {"size": "784", "name": ""}],
        "unknown_rank": False,
    }


def test_rest_predict_writes_floats_as_write_decimal(tfs, helpers):
    # util/json_tensor.cc WriteDecimal: %g (6 digits), %.9g if that does not round-trip.
    body = json.dumps(
        {"signature_name": "predict_images", "instances": [helpers.mnist_digit(1).tolist()]}
    )
    status, text = _http(tfs["rest"] + "/v1/models/mnist:predict", body.encode())
    assert status == 200
    row = json.loads(text)["predictions"][0]
    scores = np.array(row["scores"], np.float32)
    assert int(np.argmax(scores)) == 1 and row["classes"][0] == "1"
    raw = text.split('"scores": [', 1)[1].split("]", 1)[0].split(", ")
    for token, value in zip(raw, scores.tolist(), strict=True):
        assert np.float32(token) == np.float32(value)
        assert len(token.replace("-", "").replace(".", "").split("e")[0].lstrip("0")) <= 9


def test_rest_oversized_body_is_429_and_label_errors_are_400(tfs):
    # model_servers/http_server.cc ToHTTPStatusCode: RESOURCE_EXHAUSTED -> 429 (TOO_MANY_REQUESTS).
    host, port = tfs["rest"].rsplit("/", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:  # the body is refused before it is read, so only the header is sent
        conn.putrequest("POST", "/v1/models/mnist:predict")
        conn.putheader("Content-Length", str(MAX_MESSAGE + 1))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 429 and "error" in json.loads(response.read())
    finally:
        conn.close()
    status, body = _http(tfs["rest"] + "/v1/models/mnist/labels/nope:predict", b"{}")
    assert status == 400
    assert json.loads(body) == {"error": "Unrecognized servable version label: nope"}


def test_metrics_at_monitoring_config_path_with_tf_serving_names(tfs, helpers):
    # util/prometheus_exporter.cc + servables/tensorflow/util.cc (request_count, request_latency)
    tfs["predict"].Predict(_predict_request(helpers.mnist_digit(2)), 10.0)
    assert _http(tfs["rest"] + "/monitoring/prometheus/metrics")[0] == 404
    status, text = _http(tfs["rest"] + METRICS_PATH)
    assert status == 200
    lines = text.splitlines()
    assert "# TYPE :tensorflow:serving:request_count counter" in lines
    assert any(
        line.startswith(':tensorflow:serving:request_count{model_name="mnist",status="OK"} ')
        for line in lines
    )
    prefix = ':tensorflow:serving:request_latency_bucket{model_name="mnist",API="Predict",'
    buckets = [line for line in lines if line.startswith(prefix + 'entrypoint="GRPC"')]
    assert [b.split('le="')[1].split('"')[0] for b in buckets][:4] == ["10", "18", "32.4", "58.32"]
    assert len(buckets) == 34 and buckets[-1].split('le="')[1].startswith("+Inf")
    v2 = os.path.join(tfs["base"], "2")
    assert (
        f':tensorflow:cc:saved_model:load_attempt_count{{model_path="{v2}",status="success"}} 1'
        in lines
    )
    assert (
        f':tensorflow:serving:model_warmup_records_read{{model_path="{v2}",status="OK"}} 3' in lines
    )
