"""Classify and Regress through the stubs on a real Estimator export with classify
and regress signatures (TFX's chicago-taxi test model, shipped inside tfx)."""

from __future__ import annotations

import glob
import os
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
import tfx
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.client import GrpcClient, RestClient
from serving.options import ServerOptions
from serving.request_log_file import published_files
from serving.request_log_limits import RequestLogLimits
from serving.server import start_server

TESTDATA = os.path.join(os.path.dirname(tfx.__file__), "components", "testdata")
TAXI_EXPORTS = os.path.join(
    TESTDATA, "trainer", "current", "Format-Serving", "export", "chicago-taxi"
)


@pytest.fixture(scope="module")
def taxi(tmp_path_factory, helpers):
    exports = sorted(glob.glob(os.path.join(TAXI_EXPORTS, "*")))
    records = sorted(glob.glob(os.path.join(TESTDATA, "csv_example_gen", "Split-eval", "*.gz")))
    if not exports or not records:
        pytest.skip("tfx test data (chicago-taxi export) not installed")
    base = str(tmp_path_factory.mktemp("taxi_base"))
    helpers.push(exports[-1], os.path.join(base, "taxi"), 1)
    dataset = tf.data.TFRecordDataset(records[:1], compression_type="GZIP")
    examples = [tf.train.Example.FromString(r.numpy()) for r in dataset.take(3)]
    # Every request is logged (logging_config), files published within a fifth of a second.
    prefix = os.path.join(base, "logs", "taxi")
    config = helpers.write_logging_config(
        os.path.join(base, "models.config"), os.path.join(base, "taxi"), prefix, name="taxi"
    )
    limits = RequestLogLimits(max_file_age_s=0.2)
    options = ServerOptions(
        model_config=config, grpc_port=0, rest_port=0, request_log_limits=limits
    )
    handle = start_server(options)
    handle.wait_until_available("taxi")
    handle.log_prefix = prefix
    client = GrpcClient(f"127.0.0.1:{handle.grpc_port}")
    rest = RestClient(f"127.0.0.1:{handle.rest_port}")
    yield client, examples, rest, handle
    client.close()
    rest.close()
    handle.stop()


def test_classify_returns_classes_and_scores_per_example(taxi):
    client, examples, *_ = taxi
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "taxi"  # serving_default is a classify signature here
    request.input.example_list.examples.extend(examples)
    response = client.prediction.Classify(request, timeout=30)
    assert response.model_spec.version.value == 1
    assert len(response.result.classifications) == 3
    for result in response.result.classifications:
        assert [c.label for c in result.classes] == ["0", "1"]
        assert sum(c.score for c in result.classes) == pytest.approx(1.0, abs=1e-5)


def test_regress_returns_one_value_per_example(taxi):
    client, examples, *_ = taxi
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "taxi"
    request.model_spec.signature_name = "regression"
    context, rest = examples[0], examples[1:]
    request.input.example_list_with_context.context.CopyFrom(context)
    request.input.example_list_with_context.examples.extend(rest)
    response = client.prediction.Regress(request, timeout=30)
    values = [r.value for r in response.result.regressions]
    assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)


def test_predict_signature_of_the_same_model_agrees_with_classify(taxi):
    client, examples, *_ = taxi
    serialized = np.array([e.SerializeToString() for e in examples], dtype=object)
    out = client.predict("taxi", {"examples": serialized}, signature_name="predict")
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "taxi"
    request.input.example_list.examples.extend(examples)
    classified = client.prediction.Classify(request, timeout=30).result.classifications
    np.testing.assert_allclose(
        out["probabilities"], [[c.score for c in r.classes] for r in classified], rtol=1e-5
    )


def _json_example(example: tf.train.Example) -> dict:
    """A tf.Example as TF Serving's REST API takes it."""
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind is None:  # an empty, untyped feature: JSON has no way to say it
            continue
        values = list(getattr(feature, kind).value)
        if kind == "bytes_list":
            values = [v.decode("utf-8") for v in values]
        out[name] = values
    return out


def test_rest_classify_and_regress_match_grpc(taxi):
    client, examples, rest, _ = taxi
    body = {"examples": [_json_example(e) for e in examples]}
    results = rest.request("POST", "/v1/models/taxi:classify", body)["results"]
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "taxi"
    request.input.example_list.examples.extend(examples)
    classified = client.prediction.Classify(request, timeout=30).result.classifications
    assert [[label for label, _ in row] for row in results] == [["0", "1"]] * 3
    np.testing.assert_allclose(
        [[score for _, score in row] for row in results],
        [[c.score for c in r.classes] for r in classified],
        rtol=1e-5,
    )
    body["signature_name"] = "regression"
    regressed = rest.request("POST", "/v1/models/taxi/versions/1:regress", body)["results"]
    assert len(regressed) == 3 and all(0.0 <= v <= 1.0 for v in regressed)


def _wait_logged(prefix: str, kind: str, match) -> prediction_log_pb2.PredictionLog:
    """The first published `kind` record for which `match(record)` holds (other tests log
    too), waiting for the writer to publish it (files are published by age)."""
    read: set[str] = set()
    for _ in range(1200):
        for path in [p for p in published_files(prefix) if p not in read]:
            read.add(path)  # a published file never changes
            for raw in tf.data.TFRecordDataset(path):
                record = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
                if record.WhichOneof("log_type") == kind and match(record):
                    return record
        time.sleep(0.1)
    raise AssertionError(f"no such {kind} was published under {prefix}")


def test_classify_regress_and_multi_inference_are_logged_as_tf_serving_logs_them(taxi):
    _, examples, _, handle = taxi
    channel = grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "taxi"
    classify.input.example_list.examples.extend(examples[:2])
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "taxi"
    regress.model_spec.signature_name = "regression"
    regress.input.example_list.examples.extend(examples[1:])
    multi = inference_pb2.MultiInferenceRequest()
    for signature, method in (("", "classify"), ("regression", "regress")):
        task = multi.tasks.add()
        task.model_spec.name = "taxi"
        task.model_spec.signature_name = signature
        task.method_name = f"tensorflow/serving/{method}"
    multi.input.example_list.examples.extend(examples[2:])
    try:
        answers = {
            "classify_log": (classify, stub.Classify(classify, 30)),
            "regress_log": (regress, stub.Regress(regress, 30)),
            "multi_inference_log": (multi, stub.MultiInference(multi, 30)),
        }
    finally:
        channel.close()
    signatures = {"classify_log": "serving_default", "regress_log": "regression"}
    for kind, (request, response) in answers.items():
        record = _wait_logged(
            handle.log_prefix, kind, lambda r, k=kind, q=request: getattr(r, k).request == q
        )
        assert getattr(record, kind).response == response
        spec = record.log_metadata.model_spec
        assert (spec.name, spec.version.value) == ("taxi", 1)
        assert spec.signature_name == signatures.get(kind, "")  # tasks name their own
        assert record.log_metadata.sampling_config.sampling_rate == 1.0


def test_rest_regress_is_logged_as_the_grpc_request_of_its_examples(taxi):
    *_, rest, handle = taxi
    body = {"examples": [_json_example(examples) for examples in taxi[1][:1]]}
    body["signature_name"] = "regression"
    regressed = rest.request("POST", "/v1/models/taxi:regress", body)["results"]

    def same_examples(record) -> bool:
        logged = record.regress_log.request.input.example_list.examples
        return [_json_example(e) for e in logged] == body["examples"]

    record = _wait_logged(handle.log_prefix, "regress_log", same_examples)
    assert record.regress_log.request.model_spec.signature_name == "regression"
    logged = [r.value for r in record.regress_log.response.result.regressions]
    np.testing.assert_allclose(logged, regressed, rtol=1e-6)
    assert record.log_metadata.model_spec.version.value == 1
