"""TF Serving behaviours seen with its own clients: the fill rule of `tf.make_tensor_proto`,
MultiInference (and its warmup records), runtime and example-count metrics, REST
bodies that are hard to parse, and the REST deadline.

The model is written the way TF Serving's own test model saved_model_half_plus_two is
(TF1 SavedModelBuilder, y = 0.5 * x + 2 read from tf.Example feature "x", signatures
`regress_x_to_y` and `classify_x_to_y`); clients are written like TF Serving's examples.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    inference_pb2,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)

from serving.options import ServerOptions
from serving.server import start_server
from serving.warmup import warmup_path

CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


def save_half_plus_two(path: str) -> str:
    """saved_model_half_plus_two.py's graph: classify_x_to_y and regress_x_to_y."""
    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as sess:
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        x = v1.parse_example(serialized, {"x": v1.FixedLenFeature([1], tf.float32)})["x"]
        a, b = v1.Variable(0.5, name="a"), v1.Variable(2.0, name="b")
        y = tf.add(tf.multiply(a, x), b, name="y")
        sess.run(v1.global_variables_initializer())
        info = v1.saved_model.utils.build_tensor_info
        sig = v1.saved_model.signature_def_utils.build_signature_def
        builder = v1.saved_model.Builder(path)
        builder.add_meta_graph_and_variables(
            sess,
            [v1.saved_model.tag_constants.SERVING],
            signature_def_map={
                "regress_x_to_y": sig({"inputs": info(serialized)}, {"outputs": info(y)}, REGRESS),
                "classify_x_to_y": sig({"inputs": info(serialized)}, {"scores": info(y)}, CLASSIFY),
            },
        )
        builder.save()
    return path


def _examples(values, into) -> None:
    for value in values:
        into.examples.add().features.feature["x"].float_list.value.append(value)


def _multi_request(values, tasks=(("regress_x_to_y", REGRESS), ("classify_x_to_y", CLASSIFY))):
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in tasks:
        task = request.tasks.add()
        task.model_spec.name = "half_plus_two"
        task.model_spec.signature_name = signature
        task.method_name = method
    _examples(values, request.input.example_list)
    return request


@pytest.fixture(scope="module")
def served(tmp_path_factory, exported, helpers):
    """half_plus_two (version 1 warmed up by a multi_inference_log record) and the policy."""
    root = tmp_path_factory.mktemp("gaps")
    base = root / "base"
    export = save_half_plus_two(str(root / "export"))
    os.makedirs(os.path.dirname(warmup_path(export)))
    log = prediction_log_pb2.PredictionLog()
    log.multi_inference_log.request.CopyFrom(_multi_request([1.0, 2.0]))
    with tf.io.TFRecordWriter(warmup_path(export)) as writer:
        writer.write(log.SerializeToString())
    helpers.push(export, str(base / "half_plus_two"), 1)
    helpers.push(exported["policy"], str(base / "policy"), 1)
    handle = start_server(
        ServerOptions(model_base=str(base), grpc_port=0, rest_port=0, require_loaded=True)
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}")
    yield handle, prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()
    handle.stop()


def _metrics(handle) -> str:
    url = f"http://127.0.0.1:{handle.rest_port}/monitoring/prometheus/metrics"
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def _post(handle, path: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{handle.rest_port}{path}", data=body)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_make_tensor_proto_fill_rule_repeats_the_last_value(served):
    _, stub = served
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "policy"
    request.inputs["observation"].CopyFrom(tf.make_tensor_proto(1.0, shape=[1, 4]))
    assert len(request.inputs["observation"].float_val) == 1  # one value on the wire
    result = stub.Predict(request, 10.0)
    # Filled to [[1, 1, 1, 1]]: q = [1 + 2, -1 - 2] (a zero fill would give [1, -1]).
    assert tf.make_ndarray(result.outputs["q_values"]).tolist() == [[3.0, -3.0]]
    request.inputs["observation"].CopyFrom(tf.make_tensor_proto(0.0, shape=[1, 4]))
    assert tf.make_ndarray(stub.Predict(request, 10.0).outputs["q_values"]).tolist() == [[0, 0]]


def test_multi_inference_runs_each_task_on_its_signature(served):
    handle, stub = served
    response = stub.MultiInference(_multi_request([1.0, 4.0, -2.0]), 10.0)
    regression, classification = response.results
    assert [r.value for r in regression.regression_result.regressions] == [2.5, 4.0, 1.0]
    scores = [c.classes[0].score for c in classification.classification_result.classifications]
    assert scores == [2.5, 4.0, 1.0]
    assert regression.model_spec.name == "half_plus_two"
    assert regression.model_spec.version.value == 1
    assert classification.model_spec.signature_name == "classify_x_to_y"
    page = _metrics(handle)
    assert ':tensorflow:serving:request_example_count_total{model="half_plus_two"} ' in page
    assert ':tensorflow:serving:request_example_counts_bucket{model="half_plus_two",le="4"}' in page


def _unnamed_task():
    request = _multi_request([1.0])
    request.tasks[1].model_spec.name = ""
    return request


@pytest.mark.parametrize(
    "build, code",
    [
        (lambda: _multi_request([1.0], [("regress_x_to_y", REGRESS)] * 2), "INVALID_ARGUMENT"),
        (
            lambda: _multi_request([1.0], [("regress_x_to_y", "tensorflow/serving/predict")]),
            "UNIMPLEMENTED",
        ),
        (lambda: _multi_request([1.0], [("no_such_signature", REGRESS)]), "INVALID_ARGUMENT"),
        (lambda: _multi_request([1.0], []), "INVALID_ARGUMENT"),
        (_unnamed_task, "INVALID_ARGUMENT"),
        (lambda: _multi_request([]), "INVALID_ARGUMENT"),
    ],
    ids=[
        "duplicate signature",
        "predict method",
        "unknown signature",
        "no task",
        "unnamed model",
        "no example",
    ],
)
def test_multi_inference_errors_are_tf_serving_statuses(served, build, code):
    _, stub = served
    with pytest.raises(grpc.RpcError) as raised:
        stub.MultiInference(build(), 10.0)
    assert raised.value.code().name == code, raised.value.details()
    assert "\n" not in raised.value.details()


def test_warmup_replayed_the_multi_inference_record(served):
    page = _metrics(served[0])
    lines = [line for line in page.splitlines() if "model_warmup_records_read{" in line]
    assert any(
        "half_plus_two" in line and 'status="OK"' in line and line.endswith(" 1") for line in lines
    )


def test_runtime_latency_is_recorded_per_api_with_tf_serving_labels(served):
    handle, stub = served
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "policy"
    request.inputs["observation"].CopyFrom(tf.make_tensor_proto(np.zeros((2, 4), np.float32)))
    stub.Predict(request, 10.0)
    page = _metrics(handle)
    assert "# TYPE :tensorflow:serving:runtime_latency histogram" in page
    count = next(
        line
        for line in page.splitlines()
        if line.startswith(":tensorflow:serving:runtime_latency_count{")
        and 'model_name="policy",API="Predict",runtime="TF1"' in line
    )
    assert int(count.rsplit(" ", 1)[1]) >= 1


def test_rest_float_body_takes_the_array_path_and_keeps_its_checks(served):
    handle, _ = served
    rows = np.random.default_rng(0).normal(size=(2000, 4)).astype(np.float32)
    status, body = _post(
        handle, "/v1/models/policy:predict", json.dumps({"instances": rows.tolist()}).encode()
    )
    assert status == 200 and len(body["predictions"]) == 2000
    q = np.array([p["q_values"] for p in body["predictions"]], np.float32)
    w = np.array([[1, -1], [2, -2], [0, 0], [0, 0]], np.float32)
    np.testing.assert_allclose(q, rows @ w, rtol=1e-5, atol=1e-6)
    for bad, needle in (
        ({"instances": [[1, 2, 3, "4"]]}, "expected a number"),
        ({"instances": [[1, 2, 3, None]]}, "expected a number, got null"),
        ({"instances": [[1, 2, 3, 4], [1, 2, 3]]}, "mixed row lengths"),
        (
            {"instances": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
            "nesting",
        ),
    ):
        status, body = _post(handle, "/v1/models/policy:predict", json.dumps(bad).encode())
        assert status == 400 and needle in body["error"], body


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [{"\\ud800": [1, 2, 3, 4]}]}',
        b'{"signature_name": "\\udfff", "instances": [[1, 2, 3, 4]]}',
        b'{"inputs": {"observation": [[1, 2, 3, 4]], "\\ud83d": 1}}',
    ],
    ids=["key", "signature name", "second key"],
)
def test_lone_surrogate_in_a_rest_body_is_400(served, body):
    status, answer = _post(served[0], "/v1/models/policy:predict", body)
    assert status == 400 and "lone UTF-16 surrogate" in answer["error"], answer


def test_rest_call_past_rest_api_timeout_is_504(served):
    handle, _ = served
    rest = handle._rest_server
    rest.timeout_s, saved = -1.0, rest.timeout_s  # every call is past its deadline
    try:
        status, body = _post(handle, "/v1/models/policy:predict", b'{"instances": [[1, 2, 3, 4]]}')
    finally:
        rest.timeout_s = saved
    assert status == 504 and "deadline" in body["error"]
    status, _ = _post(handle, "/v1/models/policy:predict", b'{"instances": [[1, 2, 3, 4]]}')
    assert status == 200
