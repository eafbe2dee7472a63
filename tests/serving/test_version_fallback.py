"""Which versions the server takes: the newest that loads, only completed pushes, and a
/healthz that tells a readiness probe when a model has nothing to serve."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request

from serving.model_config import list_versions
from serving.server import start_server


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _corrupt(version_dir: str) -> None:
    with open(os.path.join(version_dir, "saved_model.pb"), "wb") as f:
        f.write(b"not a SavedModel")


def test_restart_with_corrupt_newest_version_serves_the_older_one(tmp_path, exported, helpers):
    model_dir = str(tmp_path / "base" / "cnn")
    helpers.push(exported["cnn_v1"], model_dir, 1)
    helpers.push(exported["cnn_v2"], model_dir, 2)
    _corrupt(os.path.join(model_dir, "2"))  # a completed push of a broken model
    handle = start_server(str(tmp_path / "base"), grpc_port=None, rest_port=0, poll_seconds=0)
    try:
        assert handle.core.registry.available() == {"cnn": [1]}
        states = {s.version: (s.state, s.error) for s in handle.core.registry.status("cnn")}
        assert states[1] == ("AVAILABLE", "") and states[2][0] == "END" and states[2][1]
        status, body = _health(handle.rest_port)
        assert status == 200 and body["models"] == {"cnn": [1]}
        servable = handle.core.registry.resolve("cnn")
        assert servable.version == 1
    finally:
        handle.stop()


def test_health_is_503_while_a_model_has_no_servable_version(tmp_path, exported, helpers):
    base = tmp_path / "base"
    helpers.push(exported["policy"], str(base / "policy"), 1)
    helpers.push(exported["cnn_v1"], str(base / "cnn"), 1)
    _corrupt(str(base / "cnn" / "1"))
    handle = start_server(str(base), grpc_port=None, rest_port=0, poll_seconds=0.3)
    try:
        status, body = _health(handle.rest_port)
        assert status == 503 and body["status"] == "unavailable"
        assert "model cnn has no servable version" in body["error"]
        helpers.push(exported["cnn_v2"], str(base / "cnn"), 2)  # a good version arrives
        assert handle.wait_until_available("cnn", timeout=30) == 2
        assert _health(handle.rest_port)[0] == 200
    finally:
        handle.stop()


def test_versions_without_the_push_marker_are_ignored_once_one_has_it(tmp_path, exported, helpers):
    model_dir = str(tmp_path / "cnn")
    helpers.push(exported["cnn_v1"], model_dir, 1)
    # A complete SavedModel copied in by hand (no completion marker): not a finished push.
    shutil.copytree(exported["cnn_v2"], os.path.join(model_dir, "2"))
    assert list_versions(model_dir) == [1]
    handle = start_server(model_dir, model_name="cnn", grpc_port=None, rest_port=0, poll_seconds=0)
    try:
        assert handle.core.registry.available() == {"cnn": [1]}
    finally:
        handle.stop()


def test_a_base_without_markers_serves_every_version_holding_a_savedmodel(tmp_path, exported):
    model_dir = str(tmp_path / "cnn")
    for version, src in ((1, "cnn_v1"), (2, "cnn_v2")):
        shutil.copytree(exported[src], os.path.join(model_dir, str(version)))
    os.makedirs(os.path.join(model_dir, "3"))  # no SavedModel: not a version
    os.makedirs(os.path.join(model_dir, ".staging-4-x"))
    assert list_versions(model_dir) == [1, 2]
    handle = start_server(model_dir, model_name="cnn", grpc_port=None, rest_port=0, poll_seconds=0)
    try:
        assert handle.core.registry.available() == {"cnn": [2]}
    finally:
        handle.stop()
