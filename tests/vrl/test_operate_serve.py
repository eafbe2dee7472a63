"""vrl label / rollback against a running `vrl serve` that reads a model config file."""

import os
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from components.atomic_pusher import ops
from vrl.cli import main

POLL_SECONDS = 1


class Scale(tf.Module):
    """y = k * x: each version answers with its own k, so a client sees which one served."""

    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = tf.Variable(k)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"y": x * self.k}


def _push(tmp_path, base: str, version: int) -> None:
    src = str(tmp_path / f"src-{version}")
    module = Scale(float(version))
    tf.saved_model.save(module, src, signatures={"serving_default": module.serve})
    ops.atomic_push(src, os.path.join(base, "scale"), version=version)


@pytest.fixture
def served(tmp_path, vrl_serve):
    base = str(tmp_path / "serving")
    for version in (1, 2):
        _push(tmp_path, base, version)
    config = os.path.join(base, "models.config")
    with open(config, "w") as f:
        f.write(
            'model_config_list { config { name: "scale" base_path: "scale" '
            'model_version_policy { specific { versions: 2 } } version_labels { key: "stable" '
            "value: 2 } } }\n"
        )
    port = vrl_serve.free_port()
    argv = ["--port", str(port), "--rest_api_port", "0", "--model_config_file", config]
    argv += ["--model_config_file_poll_wait_seconds", str(POLL_SECONDS)]
    # As with TF Serving, the first config may label a version that is still loading.
    argv += ["--allow_version_labels_for_unavailable_models"]
    server = vrl_serve(argv)
    yield config, f"127.0.0.1:{port}"
    server.stop()


def _stable_answer(stub) -> float:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "scale"
    request.model_spec.version_label = "stable"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
    response = stub.Predict(request, timeout=10)
    return float(tf.make_ndarray(response.outputs["y"])[0])


def _wait_for(stub, want: float, seconds: float) -> float:
    start = time.monotonic()
    while _stable_answer(stub) != want:
        assert time.monotonic() - start < seconds, f"labels/stable never answered {want}"
        time.sleep(0.05)
    return time.monotonic() - start


def test_rollback_and_its_rollback_switch_labels_stable_within_the_poll_interval(served, capsys):
    config, server = served
    with grpc.insecure_channel(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert _stable_answer(stub) == 2.0
        assert (
            main(["rollback", "scale", "--to", "1", "--model-config", config, "--server", server])
            == 0
        )
        assert "stable 2 -> 1" in capsys.readouterr().out
        assert _wait_for(stub, 1.0, POLL_SECONDS) < POLL_SECONDS
        assert main(["rollback", "scale", "--model-config", config, "--server", server]) == 0
        assert _wait_for(stub, 2.0, POLL_SECONDS) < POLL_SECONDS
        status = ["status", "--serving-base", os.path.dirname(config), "--server", server]
        assert main([*status, "--model-config", config]) == 0
        out = capsys.readouterr().out
        assert "2  [AVAILABLE]  (stable)" in out
        # The server's own file poll reloads the same config: still version 2.
        time.sleep(POLL_SECONDS * 2)
        assert _stable_answer(stub) == 2.0


def test_label_without_server_is_picked_up_by_the_servers_config_poll(served, capsys):
    config, server = served
    with grpc.insecure_channel(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        # canary on the loaded version: no load needed, the file poll alone applies it
        assert main(["label", "scale", "2", "canary", "--model-config", config]) == 0
        assert "not reloaded" in capsys.readouterr().out
        assert _wait_for(stub, 2.0, POLL_SECONDS * 3) < POLL_SECONDS * 3
