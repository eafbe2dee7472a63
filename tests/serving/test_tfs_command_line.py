"""`vrl serve` with tensorflow_model_server's command line: config file polling, a Keras
model queried like TF Serving's resnet_client_grpc.py, flag meanings and start errors."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.flags import server_options
from vrl import serve as cli

pytestmark = pytest.mark.slow  # starts vrl serve with TF Serving's flags: not in `make check`

POLL_SECONDS = 1
WAIT_S = 120.0
"""Bound of a wait on a condition: ends a failure on a loaded machine, never a margin."""

KERAS_ONLY = """model_config_list {{
  config {{ name: "keras" base_path: "{keras}" model_platform: "tensorflow" }}
}}
"""
KERAS_AND_MNIST = """model_config_list {{
  config {{ name: "keras" base_path: "{keras}" model_platform: "tensorflow" }}
  config {{ name: "mnist" base_path: "{mnist}" model_platform: "tensorflow" }}
}}
"""


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vrl")
    cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["serve", *argv])


def _resnet_style_predict(target: str, image: np.ndarray) -> int:
    """example/resnet_client_grpc.py: Predict with a 10 s timeout, read outputs[...].float_val."""
    channel = grpc.insecure_channel(target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "keras"
    request.model_spec.signature_name = "serving_default"
    request.inputs["input_1"].CopyFrom(tf.make_tensor_proto(image[None, :]))
    result = stub.Predict(request, 10.0)
    channel.close()
    return int(np.argmax(result.outputs["probs"].float_val))


def test_config_file_edit_is_served_after_a_poll_and_sigterm_stops_cleanly(
    tmp_path, foreign_models, helpers, vrl_serve
):
    keras_base, mnist_base = tmp_path / "keras", tmp_path / "mnist"
    helpers.push(foreign_models["keras"], str(keras_base), 1)
    helpers.push(foreign_models["mnist"], str(mnist_base), 1)
    config = tmp_path / "models.config"
    config.write_text(KERAS_ONLY.format(keras=keras_base))
    grpc_port, rest_port = vrl_serve.free_port(), vrl_serve.free_port()
    server = vrl_serve(
        [
            f"--port={grpc_port}",
            f"--rest_api_port={rest_port}",
            f"--model_config_file={config}",
            f"--model_config_file_poll_wait_seconds={POLL_SECONDS}",
        ]
    )
    try:
        assert server.line.startswith("serving {'keras': [1]}")
        target = f"127.0.0.1:{grpc_port}"
        assert [_resnet_style_predict(target, np.eye(8, dtype="f")[k]) for k in range(3)] == [
            0,
            1,
            2,
        ]
        url = f"http://127.0.0.1:{rest_port}/v1/models/mnist"
        assert _status_code(url) == 404
        config.write_text(KERAS_AND_MNIST.format(keras=keras_base, mnist=mnist_base))
        # Served after a poll and the TF1 SavedModel's load; the bound only ends a failure.
        edited = time.monotonic()
        while _state(url) != "AVAILABLE":
            assert time.monotonic() - edited < WAIT_S, "the edited config was never applied"
            time.sleep(0.1)
    finally:
        code = server.stop()
    assert code == 0, server.output()  # SIGTERM stops `vrl serve` cleanly


def _state(url: str) -> str | None:
    """The first version's state in a REST model status (None: no such model)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())["model_version_status"][0]["state"]
    except urllib.error.HTTPError:
        return None


def _status_code(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_single_model_flags_serve_one_model_by_name(tmp_path, foreign_models, helpers):
    base = tmp_path / "anything"
    helpers.push(foreign_models["keras"], str(base), 3)
    args = _parse(["--port=0", "--rest_api_port=8", "--model_name=m", f"--model_base_path={base}"])
    options = server_options(args)
    # --port 0 / --rest_api_port 0 disable that API, as in tensorflow_model_server.
    assert options.grpc_port is None and options.rest_port == 8
    with pytest.raises(ValueError, match="both gRPC and REST are disabled"):
        server_options(_parse(["--port=0", "--rest_api_port=0", f"--model_base_path={base}"]))
    options = dataclasses.replace(options, grpc_port=0, rest_port=None)
    from serving.server import start_server

    handle = start_server(options)
    try:
        assert handle.core.registry.available() == {"m": [3]}
    finally:
        handle.stop()


def test_model_base_at_one_models_folder_is_refused(tmp_path, foreign_models, helpers, capsys):
    base = tmp_path / "cnn"
    helpers.push(foreign_models["keras"], str(base), 1)
    args = _parse(["--model-base", str(base), "--grpc-port=0", "--rest-port=0"])
    assert cli.serve_command(args) == 2
    err = capsys.readouterr().err
    assert "one model's folder" in err and "--model_name" in err


def test_base_with_no_loadable_version_is_an_error_at_start(tmp_path, capsys):
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    assert cli.serve_command(_parse([f"--model_base_path={tmp_path / 'm'}"])) == 2
    assert "no loadable version" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.serve_command(_parse(["--model-base", str(tmp_path / "empty")])) == 2
    assert "nothing to serve" in capsys.readouterr().err


def test_labels_for_unloaded_versions_at_start_need_tf_serving_flag(
    tmp_path, foreign_models, helpers, capsys
):
    helpers.push(foreign_models["keras"], str(tmp_path / "k"), 1)
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "k" base_path: "{tmp_path / "k"}" '
        'version_labels { key: "stable" value: 1 } } }\n'
    )
    argv = [f"--model_config_file={config}", "--grpc-port=0", "--rest-port=0"]
    assert cli.serve_command(_parse(argv)) == 2
    assert "not currently available for inference" in capsys.readouterr().err
    options = server_options(_parse([*argv, "--allow_version_labels_for_unavailable_models"]))
    assert options.allow_labels_for_unavailable is True


def test_tf_serving_flags_map_to_server_options(tmp_path):
    params = tmp_path / "batching.config"
    params.write_text(
        "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 500 }\n"
        "num_batch_threads { value: 3 }\nmax_enqueued_batches { value: 100 }\n"
    )
    args = _parse(
        [
            "--model_base_path=/m",
            "--enable_batching",
            f"--batching_parameters_file={params}",
            "--enable_model_warmup=false",
            "--enable_signature_method_name_check=true",
            "--enable_serialization_as_tensor_content",
            "--grpc_max_threads=7",
            "--rest_api_num_threads=5",
            "--file_system_poll_wait_seconds=3",
            "--tensorflow_intra_op_parallelism=2",
            "--rest_api_timeout_in_ms=1500",
            "--enable_grpc_healthcheck_service",
            "--saved_model_tags=serve,gpu",
        ]
    )
    options = server_options(args)
    assert options.rest_timeout_s == 1.5 and options.grpc_health is True
    assert options.saved_model_tags == ("serve", "gpu")
    assert options.batching.max_enqueued_batches == 100
    batching = options.batching
    assert (batching.max_batch_size, batching.timeout_s, batching.num_threads) == (16, 5e-4, 3)
    assert options.warmup is False and options.method_name_check is True
    assert options.tensor_content is True and options.grpc_workers == 7
    assert options.rest_threads == 5 and options.poll_seconds == 3
    assert options.intra_op_threads == 2 and options.model_name == "default"
    with pytest.raises(ValueError, match="without --enable_batching"):
        server_options(_parse(["--model_base_path=/m", f"--batching_parameters_file={params}"]))
    params.write_text("max_batch_size: 3\n")
    with pytest.raises(ValueError, match="not a text-format BatchingParameters"):
        server_options(
            _parse(
                [
                    "--model_base_path=/m",
                    "--enable_batching",
                    f"--batching_parameters_file={params}",
                ]
            )
        )


def test_serve_help_shows_every_default_without_importing_tensorflow():
    code = (
        "import sys, io, contextlib, vrl.serve as s\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try: s.main(['serve', '--help'])\n"
        "    except SystemExit: pass\n"
        "assert 'tensorflow' not in sys.modules\n"
        "print(buf.getvalue())\n"
    )
    text = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    flat = " ".join(text.split())
    for flag in ("--port", "--rest_api_port", "--model_name", "--model_base_path",
                 "--model_config_file_poll_wait_seconds", "--enable_batching",
                 "--batching_parameters_file", "--monitoring_config_file",
                 "--enable_model_warmup", "--grpc_max_threads"):  # fmt: skip
        assert flag in flat, flag
    assert "(default: 2.0)" in flat and "(default: default)" in flat
    assert "(default: on)" in flat  # --enable_model_warmup


def test_rest_keras_predict_answers_like_tf_serving(tmp_path, foreign_models, helpers):
    from serving.options import ServerOptions
    from serving.server import start_server

    helpers.push(foreign_models["keras"], str(tmp_path / "keras"), 1)
    handle = start_server(
        ServerOptions(
            model_base=str(tmp_path / "keras"), model_name="keras", grpc_port=None, rest_port=0
        )
    )
    try:
        body = json.dumps({"instances": [[1, 0, 0, 0, 0, 0, 0, 0]]}).encode()
        url = f"http://127.0.0.1:{handle.rest_port}/v1/models/keras:predict"
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as r:
            text = r.read().decode()
        probs = json.loads(text)["predictions"][0]
        assert int(np.argmax(probs)) == 0
        # WriteDecimal: float32 text that round-trips with at most 9 significant digits.
        for token in text.split("[[", 1)[1].split("]]", 1)[0].split(", "):
            assert np.float32(token) in np.float32(probs)
            assert len(token.lstrip("-0.").replace(".", "").split("e")[0]) <= 9, token
    finally:
        handle.stop()


@pytest.mark.parametrize("argv", [["--workers", "2"], ["--workers"], ["--ssl_config_file=/s"]])
def test_removed_and_unsupported_flags_are_refused_in_one_line(argv, capsys):
    code = cli.serve_command(_parse(["--model_base_path=/m", *argv]))
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith(f"error: {argv[0].split('=')[0]} refused: "), err


def test_session_parallelism_sets_both_pools_unless_they_are_set(caplog):
    base = ["--model_base_path=/m"]
    options = server_options(_parse([*base, "--tensorflow_session_parallelism=3"]))
    assert (options.intra_op_threads, options.inter_op_threads) == (3, 3)
    options = server_options(
        _parse([*base, "--tensorflow_session_parallelism=3", "--tensorflow_inter_op_parallelism=2"])
    )
    assert (options.intra_op_threads, options.inter_op_threads) == (0, 2)
    every = [f"--tensorflow_{k}_parallelism=2" for k in ("session", "intra_op", "inter_op")]
    with pytest.raises(ValueError, match="You cannot configure all"):
        server_options(_parse([*base, *every]))
    with caplog.at_level("WARNING"):
        server_options(_parse([*base, "--flush_filesystem_caches=false", "--num_load_threads=4"]))
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 2 and all("has no effect" in m for m in warned), warned


# Every flag in tensorflow_model_server's main.cc flag list (tensorflow/serving, 2.16+).
TF_SERVING_FLAGS = """port grpc_socket_path rest_api_port rest_api_num_threads rest_api_timeout_in_ms
rest_api_enable_cors_support enable_batching allow_version_labels_for_unavailable_models
batching_parameters_file enable_per_model_batching_parameters model_config_file
model_config_file_poll_wait_seconds model_name model_base_path num_load_threads
num_unload_threads max_num_load_retries load_retry_interval_micros
file_system_poll_wait_seconds flush_filesystem_caches tensorflow_session_parallelism
tensorflow_session_config_file tensorflow_intra_op_parallelism tensorflow_inter_op_parallelism
use_alts_credentials ssl_config_file platform_config_file per_process_gpu_memory_fraction
saved_model_tags grpc_channel_arguments grpc_max_threads enable_model_warmup
num_request_iterations_for_warmup version monitoring_config_file
remove_unused_fields_from_bundle_metagraph prefer_tflite_model num_tflite_pools
num_tflite_interpreters_per_pool enable_signature_method_name_check
xla_cpu_compilation_enabled xla_gpu_compilation_enabled enable_profiler
thread_pool_factory_config_file mixed_precision skip_initialize_tpu
enable_grpc_healthcheck_service enable_serialization_as_tensor_content""".split()


def test_every_tf_serving_flag_is_honoured_a_no_op_or_refused():
    parser = argparse.ArgumentParser(prog="vrl")
    cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    serve = parser._subparsers._group_actions[0].choices["serve"]
    known = set(serve._option_string_actions)
    assert [f for f in TF_SERVING_FLAGS if f"--{f}" not in known] == []
