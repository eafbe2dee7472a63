"""Classify and Regress through the stubs on a real Estimator export with classify
and regress signatures (TFX's chicago-taxi test model, shipped inside tfx)."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
import tfx
from tensorflow_serving.apis import classification_pb2, regression_pb2

from serving.client import GrpcClient, RestClient
from serving.options import ServerOptions
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
    handle = start_server(ServerOptions(model_base=base, grpc_port=0, rest_port=0))
    handle.wait_until_available("taxi")
    client = GrpcClient(f"127.0.0.1:{handle.grpc_port}")
    rest = RestClient(f"127.0.0.1:{handle.rest_port}")
    yield client, examples, rest
    client.close()
    rest.close()
    handle.stop()


def test_classify_returns_classes_and_scores_per_example(taxi):
    client, examples, _ = taxi
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
    client, examples, _ = taxi
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
    client, examples, _ = taxi
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
    client, examples, rest = taxi
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
