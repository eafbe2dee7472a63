"""vrl label / rollback against a running `vrl serve` that reads a model config file,
and `vrl act --label` addressing a label the way TF Serving's clients do."""

import os
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from components.atomic_pusher import ops
from contracts.features import OBSERVATION_KEY as POLICY_INPUT
from vrl.cli import main

pytestmark = pytest.mark.slow  # starts vrl serve and switches labels on it: not in `make check`

POLL_SECONDS = 1
SWITCH_DEADLINE = 120  # seconds; a loaded machine may be slow, the test waits on the answer


class Scale(tf.Module):
    """A policy-shaped model: action k and q_values k * x, so a client sees which version
    served (version k)."""

    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = tf.Variable(k)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name=POLICY_INPUT)])
    def serve(self, observation):
        batch = tf.shape(observation)[0]
        action = tf.fill([batch], tf.cast(self.k, tf.int64))
        return {"action": action, "q_values": observation * self.k}


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
    port, rest_port = vrl_serve.free_port(), vrl_serve.free_port()
    argv = ["--port", str(port), "--rest_api_port", str(rest_port), "--model_config_file", config]
    argv += ["--model_config_file_poll_wait_seconds", str(POLL_SECONDS)]
    # As with TF Serving, the first config may label a version that is still loading.
    argv += ["--allow_version_labels_for_unavailable_models"]
    server = vrl_serve(argv)
    yield config, f"127.0.0.1:{port}", f"127.0.0.1:{rest_port}"
    server.stop()


def _stable_answer(stub) -> float:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "scale"
    request.model_spec.version_label = "stable"
    request.inputs[POLICY_INPUT].CopyFrom(tf.make_tensor_proto(np.array([[1.0]], np.float32)))
    response = stub.Predict(request, timeout=10)
    return float(tf.make_ndarray(response.outputs["q_values"])[0][0])


def _wait_for(stub, want: float) -> None:
    """Until labels/stable answers `want` (the file poll or reload applied the change)."""
    start = time.monotonic()
    while _stable_answer(stub) != want:
        assert time.monotonic() - start < SWITCH_DEADLINE, f"labels/stable never answered {want}"
        time.sleep(0.05)


def test_rollback_and_its_rollback_switch_what_labels_stable_serves(served, capsys):
    config, server, _ = served
    with grpc.insecure_channel(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert _stable_answer(stub) == 2.0
        assert (
            main(["rollback", "scale", "--to", "1", "--model-config", config, "--server", server])
            == 0
        )
        assert "stable 2 -> 1" in capsys.readouterr().out
        _wait_for(stub, 1.0)
        assert main(["rollback", "scale", "--model-config", config, "--server", server]) == 0
        _wait_for(stub, 2.0)
        status = ["status", "--serving-base", os.path.dirname(config), "--server", server]
        assert main([*status, "--model-config", config]) == 0
        out = capsys.readouterr().out
        assert "2  [AVAILABLE]  (stable)" in out
        # Without --model-config: the models.config beside the models gives the labels.
        assert main(status) == 0
        assert "2  [AVAILABLE]  (stable)" in capsys.readouterr().out
        # The server's own file poll reloads the same config: still version 2.
        time.sleep(POLL_SECONDS * 2)
        assert _stable_answer(stub) == 2.0


def test_label_without_server_is_picked_up_by_the_servers_config_poll(served, capsys):
    config, server, _ = served
    with grpc.insecure_channel(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        # canary on the loaded version: no load needed, the file poll alone applies it
        assert main(["label", "scale", "2", "canary", "--model-config", config]) == 0
        assert "not reloaded" in capsys.readouterr().out
        _wait_for(stub, 2.0)


def _act(server, *flags):
    return main(["act", "--model", "scale", "--server", server, "--obs", "1.0", *flags])


def test_vrl_act_addresses_a_label_over_grpc_and_rest_and_follows_a_rollback(served, capsys):
    config, server, rest = served
    assert _act(server, "--label", "stable") == 0
    assert "action: 2" in capsys.readouterr().out
    assert _act(rest, "--rest", "--label", "stable") == 0  # POST /v1/models/scale/labels/stable
    assert "action: 2" in capsys.readouterr().out
    assert (
        main(["rollback", "scale", "--to", "1", "--model-config", config, "--server", server]) == 0
    )
    capsys.readouterr()
    with grpc.insecure_channel(server) as channel:
        _wait_for(prediction_service_pb2_grpc.PredictionServiceStub(channel), 1.0)
    assert _act(server, "--label", "stable") == 0
    assert "action: 1" in capsys.readouterr().out
    assert _act(rest, "--rest", "--label", "stable") == 0
    assert "action: 1" in capsys.readouterr().out
    assert _act(server, "--label", "nope") == 1
    assert "nope" in capsys.readouterr().err


def test_vrl_act_and_predict_refuse_a_label_given_as_version_in_one_line(tmp_path, capsys):
    assert _act("127.0.0.1:1", "--version", "stable") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "use --label stable" in err
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG")
    argv = ["predict", "--model", "m", "--version", "canary", "--server", "127.0.0.1:1"]
    assert main([*argv, str(image)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "use --label canary" in err
