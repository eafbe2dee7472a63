"""Policy observations on the wire: vectors as float32 [N, D], image frames as uint8
[N, H, W, C], through both clients, `vrl act --obs-file` and the warmup file, against
the real local server. The reference requests are written the way TF Serving's own
examples write them (resnet_client_grpc.py, resnet_client.py, the SavedModel warmup
guide), with tensorflow_serving.apis, not with this project's helpers."""

from __future__ import annotations

import argparse
import json
import os
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2, prediction_service_pb2_grpc

from components.atomic_pusher.ops import atomic_push
from contracts import warmup
from serving.client import GrpcClient, RestClient, observation_batch
from serving.options import ServerOptions
from serving.server import start_server
from vrl import serve as cli

MODEL = "pixel"
FRAME_SHAPE = (4, 4, 3)


class PixelPolicy(tf.Module):
    """Q-value k is the sum of channel k over the frame, so the action is the brightest
    channel. Its signature takes uint8 frames only, as a pushed pixel policy does."""

    @tf.function(
        input_signature=[tf.TensorSpec([None, *FRAME_SHAPE], tf.uint8, name="observation")]
    )
    def serve(self, observation):
        q_values = tf.reduce_sum(tf.cast(observation, tf.float32), axis=[1, 2])
        return {"action": tf.argmax(q_values, axis=1), "q_values": q_values}


def frame(brightest: int) -> np.ndarray:
    """One uint8 [H, W, C] frame whose channel `brightest` is lit (value 200)."""
    pixels = np.zeros(FRAME_SHAPE, np.uint8)
    pixels[..., brightest] = 200
    return pixels


FRAMES = np.stack([frame(k) for k in range(3)])  # actions 0, 1, 2


@pytest.fixture(scope="module")
def pixel_version(tmp_path_factory) -> tuple[str, str]:
    """A pixel policy pushed with the warmup file `warmup.policy_requests` writes for
    FRAMES: (serving base, pushed version folder)."""
    root = tmp_path_factory.mktemp("pixel")
    export = str(root / "export")
    module = PixelPolicy()
    tf.saved_model.save(module, export, signatures={"serving_default": module.serve})
    warmup.write_warmup_file(export, warmup.policy_requests(MODEL, FRAMES))
    base = str(root / "base")
    return base, atomic_push(export, os.path.join(base, MODEL), version=1)


@pytest.fixture(scope="module")
def pixel_server(pixel_version):
    """The local server over the pixel policy; the version is AVAILABLE only once its
    warmup records ran (a record of the wrong dtype fails the load)."""
    handle = start_server(
        ServerOptions(model_base=pixel_version[0], grpc_port=0, rest_port=0, poll_seconds=0)
    )
    handle.wait_until_available(MODEL, timeout=60)
    yield handle
    handle.stop()


def _tfs_grpc_predict(port: int, frames: np.ndarray) -> predict_pb2.PredictResponse:
    """example/resnet_client_grpc.py's way: make_tensor_proto, Predict with a 10 s timeout."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = "serving_default"
    request.inputs["observation"].CopyFrom(tf.make_tensor_proto(frames, dtype=tf.uint8))
    result = stub.Predict(request, 10.0)
    channel.close()
    return result


def test_observation_batch_keeps_frames_uint8_and_makes_vectors_float32():
    vector = observation_batch([1, 0, 0, 0])
    assert vector.dtype == np.float32 and vector.shape == (1, 4)
    assert observation_batch(np.ones((5, 4), np.float64)).dtype == np.float32
    single = observation_batch(frame(1))
    assert single.dtype == np.uint8 and single.shape == (1, *FRAME_SHAPE)
    assert observation_batch(FRAMES).shape == (3, *FRAME_SHAPE)
    # MinAtar's raw grids are bool; whole numbers 0-255 of any dtype are frames too.
    assert observation_batch(FRAMES > 0).dtype == np.uint8
    np.testing.assert_array_equal(observation_batch(FRAMES.astype(np.int64)), FRAMES)


@pytest.mark.parametrize(
    "bad, message",
    [
        (FRAMES / 255.0, "must be uint8 values 0-255"),
        (FRAMES.astype(np.int64) * 2, "must be uint8 values 0-255"),
        (np.zeros((2, 3, 4, 5, 6), np.uint8), "got shape"),
        (np.zeros((0, 4), np.float32), "non-empty"),
        ([], "non-empty"),
    ],
)
def test_observation_batch_refuses_what_no_policy_signature_takes(bad, message):
    with pytest.raises(ValueError, match=message):
        observation_batch(bad)


def test_grpc_client_act_answers_as_a_tf_serving_example_request(pixel_server):
    expected = _tfs_grpc_predict(pixel_server.grpc_port, FRAMES)
    assert list(expected.outputs["action"].int64_val) == [0, 1, 2]
    with GrpcClient(f"127.0.0.1:{pixel_server.grpc_port}") as client:
        batch = client.act(MODEL, FRAMES)
        one = client.act(MODEL, frame(2))
    assert batch["action"].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(batch["q_values"], tf.make_ndarray(expected.outputs["q_values"]))
    assert one["action"].tolist() == [2] and one["q_values"].tolist() == [[0, 0, 3200]]


def test_rest_client_act_answers_as_a_tf_serving_example_request(pixel_server):
    # example/resnet_client.py's way: POST {"instances": [...]} to :predict, read predictions.
    url = f"http://127.0.0.1:{pixel_server.rest_port}/v1/models/{MODEL}:predict"
    body = json.dumps({"instances": FRAMES.tolist()}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as r:
        expected = json.loads(r.read())["predictions"]
    assert [row["action"] for row in expected] == [0, 1, 2]
    client = RestClient(f"127.0.0.1:{pixel_server.rest_port}")
    try:
        assert client.act(MODEL, FRAMES) == expected
        assert client.act(MODEL, frame(1), signature_name="serving_default") == expected[1:2]
    finally:
        client.close()


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_vrl_act_sends_an_obs_file_of_frames_as_uint8(pixel_server, transport, tmp_path, capsys):
    path = tmp_path / "frame.npy"
    np.save(path, frame(1))
    port = pixel_server.grpc_port if transport == "grpc" else pixel_server.rest_port
    argv = ["act", "--model", MODEL, "--server", f"127.0.0.1:{port}", "--obs-file", str(path)]
    argv += ["--rest"] if transport == "rest" else []
    parser = argparse.ArgumentParser(prog="vrl")
    cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    assert cli.act_command(parser.parse_args(argv)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "action: 1",
        "q_values: 0.0000, 3200.0000, 0.0000",
    ]


def test_pixel_policy_warmup_records_are_uint8_frames_tf_serving_replays(
    pixel_version, pixel_server
):
    # Read as the SavedModel warmup guide writes them: a TFRecord of PredictionLogs.
    path = os.path.join(pixel_version[1], "assets.extra", "tf_serving_warmup_requests")
    logs = [
        prediction_log_pb2.PredictionLog.FromString(record)
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator()
    ]
    requests = [log.predict_log.request for log in logs]
    tensors = [request.inputs["observation"] for request in requests]
    assert {t.dtype for t in tensors} == {types_pb2.DT_UINT8}
    assert [tf.make_ndarray(t).shape for t in tensors] == [(1, *FRAME_SHAPE)] * 3 + [
        (3, *FRAME_SHAPE)
    ]
    channel = grpc.insecure_channel(f"127.0.0.1:{pixel_server.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    actions = [
        list(stub.Predict(request, 10.0).outputs["action"].int64_val) for request in requests
    ]
    channel.close()
    assert actions == [[0], [1], [2], [0, 1, 2]]
