"""Pure pieces of TF Serving compatibility: tensor encoding, JSON float text, metric
names and buckets, side config files, the warmup file."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from serving import json_text, metrics, tensors, tfs_config


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
        np.array([1, -2], np.int64),
        np.array([[1, 2]], np.int32),
        np.array([True, False]),
        np.array(2.5, np.float64),
        np.array([b"a", b"\xff"], dtype=object),
    ],
)
def test_typed_and_tensor_content_encodings_decode_to_the_same_array(array):
    typed = tensors.to_tensor_proto(array)
    packed = tensors.to_tensor_proto(array, as_tensor_content=True)
    if array.dtype != object:
        assert not typed.tensor_content and packed.tensor_content
        assert packed.tensor_content == array.astype(array.dtype.newbyteorder("<")).tobytes()
    for proto in (typed, packed):
        decoded = tf.make_ndarray(proto)
        assert decoded.shape == array.shape and decoded.tolist() == array.tolist()


def test_float_val_holds_every_element_like_as_proto_field():
    proto = tensors.to_tensor_proto(np.zeros((2, 2), np.float32))
    assert list(proto.float_val) == [0.0] * 4  # AsProtoField does not compress repeats


def test_json_floats_match_tf_serving_json_tensor_test():
    # util/json_tensor_test.cc, JsontensorTest.FloatTensorWithPrecisionLoss
    values = np.array([[9000000, 999999, 0.5], [0.0003, 0.00003, 555557.5]], np.float32)
    text = json_text.dumps({"predictions": json_text.float_array_to_json(values)})
    assert text == '{"predictions": [[9e+06, 999999.0, 0.5], [0.0003, 3e-05, 555557.5]]}'
    special = np.array([np.nan, np.inf, -np.inf], np.float32)
    assert json_text.dumps(json_text.float_array_to_json(special)) == "[NaN, Infinity, -Infinity]"
    assert json_text.float32_text(0.2) == "0.2" and json_text.float32_text(1 / 3) == "0.333333343"
    assert json_text.float64_text(1 / 3) == "0.33333333333333331"


def test_latency_buckets_are_tf_serving_exponential_10_1_8_33():
    assert len(metrics.LATENCY_BUCKETS_US) == 33
    assert metrics.LATENCY_BUCKETS_US[:3] == (10.0, 18.0, 32.4)
    assert 1.0e9 < metrics.LATENCY_BUCKETS_US[-1] < 1.5e9  # ~20 minutes in microseconds
    assert metrics.prometheus_name("/tensorflow/serving/request_count") == (
        ":tensorflow:serving:request_count"
    )


def test_metrics_page_has_tf_serving_label_sets():
    m = metrics.Metrics()
    m.record_request("m", "Predict", "GRPC", "OK", 25.0)
    m.record_request("m", "Predict", "GRPC", "NOT_FOUND", 5.0)
    m.record_load("/b/m/1", True, 1234.0)
    lines = m.render().splitlines()
    assert ':tensorflow:serving:request_count{model_name="m",status="OK"} 1' in lines
    assert ':tensorflow:serving:request_count{model_name="m",status="NOT_FOUND"} 1' in lines
    assert (
        ':tensorflow:serving:request_latency_bucket{model_name="m",API="Predict",'
        'entrypoint="GRPC",le="32.4"} 1'
    ) in lines
    assert (
        ':tensorflow:serving:request_latency_sum{model_name="m",API="Predict",entrypoint="GRPC"} 25'
        in lines
    )
    assert ':tensorflow:cc:saved_model:load_latency{model_path="/b/m/1"} 1234' in lines


def test_monitoring_config_path_and_disable(tmp_path):
    config = tmp_path / "monitoring.config"
    config.write_text('prometheus_config { enable: true path: "/m" }')
    assert tfs_config.prometheus_path_from_file(str(config)) == "/m"
    config.write_text("prometheus_config { enable: false }")
    assert tfs_config.prometheus_path_from_file(str(config)) is None
    assert tfs_config.prometheus_path_from_file(None) == metrics.DEFAULT_PATH
    config.write_text("prometheus { }")
    with pytest.raises(ValueError, match="MonitoringConfig"):
        tfs_config.prometheus_path_from_file(str(config))


def test_batching_defaults_without_a_file_are_tf_serving_scheduler_defaults():
    options = tfs_config.batching_options_from_file(None, num_threads=4)
    assert (options.max_batch_size, options.timeout_s, options.num_threads) == (1000, 0.0, 4)


def test_fast_signature_call_matches_the_public_call(exported, helpers):
    from serving.servable import LoadedVersion

    servable = LoadedVersion("cnn", 1, exported["cnn_v1"])
    assert servable._callers["serving_default"].__name__ == "flat"  # the fast path is taken
    images = np.array([helpers.png_bytes(3), helpers.png_bytes(4)], dtype=object)
    fast = servable.execute("serving_default", {"image_bytes": images})
    public = servable._functions["serving_default"](image_bytes=tf.constant(images))
    assert set(fast) == set(public)
    for key, value in public.items():
        np.testing.assert_array_equal(fast[key], value.numpy())
