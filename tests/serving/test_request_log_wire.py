"""The writer's hand-joined PredictionLog bytes are the proto's own serialization."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from serving.request_log import LOG_KINDS, prediction_log
from serving.request_log_wire import prediction_log_bytes


def _predict(image_bytes: int) -> tuple[predict_pb2.PredictRequest, predict_pb2.PredictResponse]:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([b"\x89PNG" * image_bytes]))
    response = predict_pb2.PredictResponse()
    response.model_spec.name = "m"
    response.model_spec.version.value = 3
    probabilities = np.linspace(0, 1, 10, dtype=np.float32)[None]
    response.outputs["probabilities"].CopyFrom(tf.make_tensor_proto(probabilities))
    return request, response


def _example_parts(kind: str) -> tuple:
    example = tf.train.Example()
    example.features.feature["x"].float_list.value.extend([1.5, 2.5])
    if kind == "classify_log":
        request = classification_pb2.ClassificationRequest()
        request.input.example_list.examples.add().CopyFrom(example)
        response = classification_pb2.ClassificationResponse()
        response.result.classifications.add().classes.add(label="cat", score=0.75)
    elif kind == "regress_log":
        request = regression_pb2.RegressionRequest()
        request.input.example_list.examples.add().CopyFrom(example)
        response = regression_pb2.RegressionResponse()
        response.result.regressions.add(value=0.25)
    else:
        request = inference_pb2.MultiInferenceRequest()
        request.tasks.add(method_name="tensorflow/serving/classify").model_spec.name = "m"
        request.input.example_list.examples.add().CopyFrom(example)
        response = inference_pb2.MultiInferenceResponse()
        response.results.add().classification_result.classifications.add().classes.add(label="a")
    return request, response


@pytest.mark.parametrize("image_bytes", [1, 40, 5000])  # 1-, 2- and 3-byte lengths
@pytest.mark.parametrize("version", [0, 1, 300])
def test_predict_log_bytes_are_the_protos_serialization(image_bytes, version):
    request, response = _predict(image_bytes)
    built = prediction_log(
        "m", version, "serving_default", request, response, 0.5, "predict_log"
    ).SerializeToString()
    joined = prediction_log_bytes("m", version, "serving_default", request, response, 0.5)
    assert joined == built
    parsed = prediction_log_pb2.PredictionLog.FromString(joined)
    assert parsed.WhichOneof("log_type") == "predict_log"
    assert parsed.predict_log.request == request
    assert parsed.predict_log.response == response
    assert parsed.log_metadata.model_spec.version.value == version
    assert parsed.log_metadata.sampling_config.sampling_rate == 0.5


@pytest.mark.parametrize("kind", [k for k in LOG_KINDS if k != "predict_log"])
def test_every_api_log_is_the_protos_serialization(kind):
    request, response = _example_parts(kind)
    built = prediction_log("m", 2, "sig", request, response, 1.0, kind).SerializeToString()
    joined = prediction_log_bytes("m", 2, "sig", request, response, 1.0, kind)
    assert joined == built
    parsed = prediction_log_pb2.PredictionLog.FromString(joined)
    assert parsed.WhichOneof("log_type") == kind
    assert getattr(parsed, kind).request == request
    assert getattr(parsed, kind).response == response
