"""Request logging configured by TF Serving's logging_config, read back with its protos."""

from __future__ import annotations

import argparse
import base64
import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)

from serving.flags import server_options
from serving.metrics import Metrics
from serving.model_config import ModelSpec
from serving.options import ServerOptions
from serving.request_log import RequestLogger
from serving.request_log_file import published_files
from serving.request_log_limits import RequestLogLimits
from serving.server import start_server
from vrl import serve as serve_cli

pytestmark = pytest.mark.slow  # starts vrl serve processes: not in `make check`


def _predict_request(image: bytes) -> predict_pb2.PredictRequest:
    """The way TF Serving's example clients send an image: a PredictRequest over gRPC."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "cnn"
    request.model_spec.signature_name = "serving_default"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image]))
    return request


def _grpc_predict(port: int, image: bytes) -> predict_pb2.PredictResponse:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(_predict_request(image), 30.0)


def _read_logs(prefix: str) -> list[prediction_log_pb2.PredictionLog]:
    logs = []
    for path in published_files(prefix):
        for raw in tf.data.TFRecordDataset(path):
            logs.append(prediction_log_pb2.PredictionLog.FromString(raw.numpy()))
    return logs


def test_sampled_predicts_are_read_back_as_tf_serving_prediction_logs(
    tmp_path, model_base, helpers
):
    prefix = str(tmp_path / "logs" / "cnn")
    config = helpers.write_logging_config(
        tmp_path / "models.config", os.path.join(model_base, "cnn"), prefix
    )
    handle = start_server(ServerOptions(model_config=config, grpc_port=0, rest_port=0))
    try:
        handle.wait_until_available("cnn")
        images = [helpers.png_bytes(seed=i) for i in range(3)]
        for image in images[:2]:
            _grpc_predict(handle.grpc_port, image)
        body = json.dumps({"instances": [{"b64": base64.b64encode(images[2]).decode()}]})
        url = f"http://127.0.0.1:{handle.rest_port}/v1/models/cnn:predict"
        urllib.request.urlopen(url, body.encode(), timeout=30).read()
    finally:
        handle.stop()  # publishes the open file
    page = handle.core.metrics_text()
    logs = _read_logs(prefix)
    assert not glob.glob(str(tmp_path / "logs" / ".*"))  # nothing left hidden
    assert len(logs) == 3
    logged = [log.predict_log.request.inputs["image_bytes"].string_val[0] for log in logs]
    assert sorted(logged) == sorted(images)
    for log in logs:
        assert log.log_metadata.model_spec.name == "cnn"
        assert log.log_metadata.model_spec.version.value == 1
        assert log.log_metadata.model_spec.signature_name == "serving_default"
        assert log.log_metadata.sampling_config.sampling_rate == 1.0
        assert len(log.predict_log.response.outputs["probabilities"].float_val) == 3
    assert ':tensorflow:serving:request_log_count{model_name="cnn",status_code="OK"} 3' in page


def _logged_images(prefix: str) -> list[bytes]:
    return [
        log.predict_log.request.inputs["image_bytes"].string_val[0] for log in _read_logs(prefix)
    ]


def _reload_by_rpc(port: int, config_text: str) -> None:
    """HandleReloadConfigRequest, sent as a TF Serving client sends it."""
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(config_text, request.config)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, 30)


def test_logging_config_changes_apply_on_reload_without_restart(tmp_path, model_base, helpers):
    base = os.path.join(model_base, "cnn")
    config = helpers.write_logging_config(tmp_path / "models.config", base, None)
    by_rpc, by_poll = str(tmp_path / "rpc" / "cnn"), str(tmp_path / "poll" / "cnn")
    images = [helpers.png_bytes(seed=i) for i in range(400)]
    limits = RequestLogLimits(max_file_age_s=0.2)  # publish within a fifth of a second
    options = ServerOptions(
        model_config=config,
        grpc_port=0,
        rest_port=None,
        config_poll_seconds=0.1,
        request_log_limits=limits,
    )
    handle = start_server(options)
    try:
        handle.wait_until_available("cnn")
        _grpc_predict(handle.grpc_port, images[0])  # no logging_config yet
        _reload_by_rpc(
            handle.grpc_port,
            open(helpers.write_logging_config(tmp_path / "rpc.config", base, by_rpc)).read(),
        )
        _grpc_predict(handle.grpc_port, images[1])
        blocker = tmp_path / "a_file"
        blocker.write_text("not a folder")
        with pytest.raises(grpc.RpcError) as refused:
            _reload_by_rpc(
                handle.grpc_port,
                open(
                    helpers.write_logging_config(tmp_path / "bad.config", base, f"{blocker}/x")
                ).read(),
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "is not writable" in refused.value.details()
        _grpc_predict(handle.grpc_port, images[2])  # the refused reload changed nothing
        helpers.write_logging_config(
            tmp_path / "models.config", base, by_poll
        )  # the polled file logs elsewhere
        sent = 3
        while not published_files(by_poll):  # until the poll has applied it
            assert sent < len(images), "the polled logging_config was never applied"
            _grpc_predict(handle.grpc_port, images[sent])
            sent += 1
    finally:
        handle.stop()
    logged_rpc, logged_poll = _logged_images(by_rpc), _logged_images(by_poll)
    assert images[0] not in logged_rpc + logged_poll
    assert logged_rpc[:2] == images[1:3]  # before the poll's reload, in order
    assert logged_poll and set(logged_poll) <= set(images[3:sent])
    assert sorted(logged_rpc[2:] + logged_poll) == sorted(images[3:sent])  # none lost
    assert not glob.glob(str(tmp_path / "*" / ".*.tmp"))  # the retired file was published


def test_a_reload_racing_the_shutdown_starts_no_writer(tmp_path, model_base):
    logger = RequestLogger([], Metrics())
    logger.stop()  # the server is stopping; the config poll reloads one last time
    spec = ModelSpec(
        "cnn", os.path.join(model_base, "cnn"), log_sampling_rate=1.0,
        log_filename_prefix=str(tmp_path / "cnn"),
    )  # fmt: skip
    writers = {t for t in threading.enumerate() if t.name == "request-log"}
    logger.reconfigure([spec])
    assert {t for t in threading.enumerate() if t.name == "request-log"} == writers


def _serve_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vrl")
    serve_cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["serve", *argv])


def test_unwritable_log_folder_refuses_start_in_one_line(tmp_path, model_base, helpers, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    config = helpers.write_logging_config(
        tmp_path / "m.config", os.path.join(model_base, "cnn"), f"{blocker}/cnn"
    )
    argv = [f"--model_config_file={config}", "--grpc-port=0", "--rest-port=0"]
    assert serve_cli.serve_command(_serve_args(argv)) == 2
    err = capsys.readouterr().err
    assert "request log folder" in err and "is not writable" in err
    assert err.count("\n") == 1


def test_request_log_bounds_are_serve_flags(tmp_path):
    argv = ["--model_config_file=m.config", "--request-log-max-file-bytes=4000"]
    limits = server_options(_serve_args(argv)).request_log_limits
    assert limits.max_file_bytes == 4000 and limits.queue_records == 1024
    with pytest.raises(ValueError, match="--request-log-queue-records must be > 0"):
        server_options(_serve_args([*argv, "--request-log-queue-records=0"]))


def test_two_models_logging_to_one_prefix_are_refused(tmp_path, model_base):
    base = os.path.join(model_base, "cnn")
    logging = (
        'logging_config { log_collector_config { type: "tfrecord" filename_prefix: "logs/x" } '
        "sampling_config { sampling_rate: 1 } }"
    )
    entries = "".join(f'config {{ name: "{n}" base_path: "{base}" {logging} }} ' for n in "ab")
    config = tmp_path / "m.config"
    config.write_text(f"model_config_list {{ {entries}}}")
    with pytest.raises(ValueError, match="'a' and 'b' log to the same filename_prefix"):
        start_server(ServerOptions(model_config=str(config), grpc_port=None, rest_port=None))


def test_bad_sampling_rate_is_named(tmp_path, model_base, helpers):
    prefix = str(tmp_path / "cnn")
    config = helpers.write_logging_config(
        tmp_path / "m.config", os.path.join(model_base, "cnn"), prefix, rate=1.5
    )
    with pytest.raises(ValueError, match="sampling_rate must be in"):
        start_server(ServerOptions(model_config=config, grpc_port=None, rest_port=None))


_CHILD = """
import resource, signal, sys
from serving.request_log_limits import RequestLogLimits
from serving.options import ServerOptions
from serving.server import start_server
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with EFBIG
limits = RequestLogLimits(max_file_bytes=4000, max_folder_bytes=1 << 30)
handle = start_server(ServerOptions(model_config=sys.argv[1], grpc_port=0, rest_port=0,
                                   request_log_limits=limits))
handle.wait_until_available("cnn")
print(handle.grpc_port, handle.rest_port, flush=True)
for line in sys.stdin:  # "N": cap the size of any file this process writes (0: no cap)
    cap = int(line) or resource.RLIM_INFINITY
    resource.setrlimit(resource.RLIMIT_FSIZE, (cap, resource.RLIM_INFINITY))
    print("capped", line.strip(), flush=True)
"""


class LoggingChild:
    """A server in a child process logging every Predict to `prefix`; the disk it writes
    to can be made full (`cap_files`) and the process killed."""

    def __init__(self, root, base_path: str, helpers) -> None:
        self.prefix = str(root / "logs" / "cnn")
        config = helpers.write_logging_config(root / "models.config", base_path, self.prefix)
        env = dict(
            os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.grpc_port, self.rest_port = map(int, self.proc.stdout.readline().split())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.sent = 0

    def predict(self, image: bytes) -> predict_pb2.PredictResponse:
        self.sent += 1
        return self.stub.Predict(_predict_request(image), 30.0)

    def cap_files(self, size: int) -> None:
        """Makes every file write past `size` bytes fail, as a full disk does (0: no cap)."""
        self.proc.stdin.write(f"{size}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().startswith("capped")

    def stop(self) -> None:
        self.channel.close()
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def logging_child(tmp_path_factory, model_base, helpers):
    """One child server for the fault tests below (a start costs a fresh interpreter); the
    last of them kills it."""
    child = LoggingChild(tmp_path_factory.mktemp("child"), os.path.join(model_base, "cnn"), helpers)
    yield child
    child.stop()


def test_full_disk_keeps_serving_and_counts_dropped_logs(logging_child, helpers):
    logging_child.cap_files(3000)
    for seed in range(8):
        response = logging_child.predict(helpers.png_bytes(seed=seed))
        assert len(response.outputs["probabilities"].float_val) == 3
    url = f"http://127.0.0.1:{logging_child.rest_port}/monitoring/prometheus/metrics"
    dropped = 'request_log_count{model_name="cnn",status_code="INTERNAL"}'
    for _ in range(600):  # the writer thread counts asynchronously
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        if dropped in page:
            break
        time.sleep(0.1)
    assert dropped in page
    logging_child.cap_files(0)  # room again: the next test logs on


def test_server_killed_mid_write_leaves_no_torn_file(logging_child, helpers):
    prefix, folder = logging_child.prefix, os.path.dirname(logging_child.prefix)
    # Until files have been published and the next one is open, half written.
    while not (published_files(prefix) and glob.glob(os.path.join(folder, ".*.tmp"))):
        assert logging_child.sent < 2000, "no file was published while requests were logged"
        logging_child.predict(helpers.png_bytes(seed=logging_child.sent))
    logging_child.proc.send_signal(signal.SIGKILL)
    logging_child.proc.wait()
    logs = _read_logs(prefix)  # a torn record would raise DataLossError here
    assert 0 < len(logs) < logging_child.sent
    assert all(log.log_metadata.model_spec.name == "cnn" for log in logs)
