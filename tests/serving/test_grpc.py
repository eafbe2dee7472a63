"""gRPC API through tensorflow-serving-api's own stubs and messages."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from contracts import features


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield ch


@pytest.fixture(scope="module")
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def model_stub(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def _image_request(images, signature="", output_filter=()):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "cnn"
    request.model_spec.signature_name = signature
    request.inputs[features.SERVING_INPUT_KEY].CopyFrom(
        tf.make_tensor_proto(np.array(images, dtype=object))
    )
    request.output_filter.extend(output_filter)
    return request


def test_predict_cnn_on_png_and_jpeg_returns_contract_outputs(stub, helpers):
    h = helpers
    response = stub.Predict(_image_request([h.png_bytes(1), h.jpeg_bytes(2)]), timeout=30)
    probabilities = tf.make_ndarray(response.outputs[features.OUTPUT_PROBABILITIES])
    class_ids = tf.make_ndarray(response.outputs[features.OUTPUT_CLASS_IDS])
    names = tf.make_ndarray(response.outputs[features.OUTPUT_LABEL_NAMES])
    assert probabilities.shape == (2, len(h.LABELS)) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert class_ids.dtype == np.int64 and class_ids.tolist() == [0, 0]
    assert names.tolist() == [b"cat", b"cat"]
    assert response.model_spec.name == "cnn"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"


def test_predict_output_filter_returns_only_requested_outputs(stub, helpers):
    request = _image_request([helpers.png_bytes()], output_filter=[features.OUTPUT_CLASS_IDS])
    response = stub.Predict(request, timeout=30)
    assert set(response.outputs) == {features.OUTPUT_CLASS_IDS}


def test_predict_serving_examples_signature_takes_serialized_examples(stub, helpers):
    example = tf.train.Example()
    example.features.feature[features.IMAGE_KEY].bytes_list.value.append(helpers.png_bytes(3))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "cnn"
    request.model_spec.signature_name = features.EXAMPLES_SIGNATURE
    request.inputs[features.EXAMPLES_INPUT_KEY].CopyFrom(
        tf.make_tensor_proto([example.SerializeToString()])
    )
    response = stub.Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs[features.OUTPUT_LABEL_NAMES]).tolist() == [b"cat"]


def test_predict_policy_plain_and_tf_agents_action_signatures(stub):
    obs = np.array([[1.0, 0.0, 0.0, 0.0], [-1.0, -1.0, 0.0, 0.0]], dtype=np.float32)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "policy"
    request.inputs["observation"].CopyFrom(tf.make_tensor_proto(obs))
    response = stub.Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs["action"]).tolist() == [0, 1]
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["q_values"]), [[1, -1], [-3, 3]])

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "policy"
    request.model_spec.signature_name = "action"
    request.inputs["0/step_type"].CopyFrom(tf.make_tensor_proto(np.zeros(2, np.int32)))
    request.inputs["0/reward"].CopyFrom(tf.make_tensor_proto(np.zeros(2, np.float32)))
    request.inputs["0/discount"].CopyFrom(tf.make_tensor_proto(np.ones(2, np.float32)))
    request.inputs["0/observation"].CopyFrom(tf.make_tensor_proto(obs))
    response = stub.Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs["action"]).tolist() == [0, 1]


def test_get_model_metadata_packs_signature_def_map_like_tf_serving(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "cnn"
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, timeout=30)
    assert response.model_spec.version.value == 1
    sdm = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(sdm)
    default = sdm.signature_def["serving_default"]
    assert default.inputs[features.SERVING_INPUT_KEY].dtype == tf.string.as_datatype_enum
    assert set(default.outputs) == {
        features.OUTPUT_PROBABILITIES,
        features.OUTPUT_CLASS_IDS,
        features.OUTPUT_LABEL_NAMES,
    }
    assert features.EXAMPLES_SIGNATURE in sdm.signature_def

    request.model_spec.name = "policy"
    response = stub.GetModelMetadata(request, timeout=30)
    response.metadata["signature_def"].Unpack(sdm)
    assert "0/observation" in sdm.signature_def["action"].inputs
    assert sdm.signature_def["serving_default"].inputs["observation"].dtype == (
        tf.float32.as_datatype_enum
    )


@pytest.mark.parametrize("model", ["cnn", "policy"])
def test_get_model_status_reports_loaded_version_available(model_stub, model):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    response = model_stub.GetModelStatus(request, timeout=30)
    [status] = response.model_version_status
    assert status.version == 1
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert status.status.error_code == 0


def test_classify_runs_a_classify_signature_on_examples(stub, helpers):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "cnn"
    request.model_spec.signature_name = "classify"
    for seed in range(2):
        example = request.input.example_list.examples.add()
        example.features.feature[features.IMAGE_KEY].bytes_list.value.append(
            helpers.png_bytes(seed)
        )
    response = stub.Classify(request, timeout=30)
    assert len(response.result.classifications) == 2
    first = response.result.classifications[0].classes
    assert [c.label for c in first] == list(helpers.LABELS)
    assert max(first, key=lambda c: c.score).label == "cat"
