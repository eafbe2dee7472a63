"""Which versions the server takes: the newest that loads, only completed pushes, and a
/healthz that tells a readiness probe when a model has nothing to serve."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request

from components.atomic_pusher import ops as push_ops
from contracts.serving_base import PUSH_MARKER_FILE
from serving.model_config import list_versions
from serving.options import ServerOptions
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
    handle = start_server(
        ServerOptions(
            model_base=str(tmp_path / "base"), grpc_port=None, rest_port=0, poll_seconds=0
        )
    )
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
    handle = start_server(
        ServerOptions(model_base=str(base), grpc_port=None, rest_port=0, poll_seconds=0.3)
    )
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
    handle = start_server(
        ServerOptions(
            model_base=model_dir, model_name="cnn", grpc_port=None, rest_port=0, poll_seconds=0
        )
    )
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
    handle = start_server(
        ServerOptions(
            model_base=model_dir, model_name="cnn", grpc_port=None, rest_port=0, poll_seconds=0
        )
    )
    try:
        assert handle.core.registry.available() == {"cnn": [2]}
    finally:
        handle.stop()


# Issue 21 item 2: whatever sits in the serving base, the watcher keeps going.

STRAY_NAMES = ("²", os.fsdecode(b"\xe9\xff-not-utf8"), "backup")


def _stray_warnings(caplog, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if name in r.getMessage()]


def test_stray_folders_are_skipped_once_and_new_versions_still_load(
    tmp_path, exported, helpers, caplog
):
    base = tmp_path / "base"
    model_dir = str(base / "cnn")
    helpers.push(exported["cnn_v1"], model_dir, 1)
    for name in STRAY_NAMES:
        os.makedirs(os.path.join(model_dir, name))
    os.makedirs(os.path.join(str(base), os.fsdecode(b"model-\xe9")))  # a model folder, too
    caplog.set_level("WARNING", logger="serving.registry")
    # Start-up survives them (it stopped with "invalid literal for int(): '²'").
    handle = start_server(
        ServerOptions(model_base=str(base), grpc_port=None, rest_port=0, poll_seconds=0.2)
    )
    try:
        assert handle.core.registry.available() == {"cnn": [1]}
        helpers.push(exported["cnn_v2"], model_dir, 2)
        assert handle.wait_until_available("cnn", version=2, timeout=60) == 2
        for name in STRAY_NAMES[:2]:
            shutil.rmtree(os.path.join(model_dir, name))
        handle.core.registry.refresh()  # one more poll after the removal, done here
        assert handle.core.registry.available() == {"cnn": [2]}
        assert _health(handle.rest_port)[0] == 200
        assert handle.core.registry.watcher_failure() is None
        # One warning per stray path however many polls saw it, naming the path.
        assert len(_stray_warnings(caplog, "cnn/²: not a version number")) == 1
        assert len(_stray_warnings(caplog, "cnn/\\xe9\\xff-not-utf8: not a version")) == 1
        assert len(_stray_warnings(caplog, "model-\\xe9: model folder name is not UTF-8")) == 1
    finally:
        handle.stop()


def test_health_is_503_and_the_server_stops_once_the_model_watcher_has_died(
    tmp_path, exported, helpers, monkeypatch
):
    helpers.push(exported["cnn_v1"], str(tmp_path / "cnn"), 1)
    handle = start_server(
        ServerOptions(model_base=str(tmp_path), grpc_port=None, rest_port=0, poll_seconds=0.05)
    )
    try:
        registry = handle.core.registry
        assert _health(handle.rest_port)[0] == 200

        def die() -> None:
            raise SystemExit("simulated")  # what `except Exception` in the watcher lets by

        monkeypatch.setattr(registry, "refresh", die)
        registry._thread.join(timeout=60)
        assert not registry._thread.is_alive()
        status, body = _health(handle.rest_port)
        assert status == 503 and "model watcher died (SystemExit: simulated)" in body["error"]
        # The server then stops itself; `vrl serve` exits 1 with that reason.
        assert handle.wait() == "SystemExit: simulated"
    finally:
        handle.stop()


def test_a_push_killed_between_rename_and_marker_is_not_served_and_the_next_push_removes_it(
    tmp_path, exported, caplog
):
    model_dir = str(tmp_path / "cnn")
    push_ops.atomic_push(exported["cnn_v1"], model_dir, version=1, provenance={})
    killed = push_ops.atomic_push(exported["cnn_v2"], model_dir, version=2, provenance={})
    os.remove(os.path.join(killed, PUSH_MARKER_FILE))  # killed before the marker
    caplog.set_level("WARNING", logger="serving.registry")
    handle = start_server(
        ServerOptions(
            model_base=model_dir, model_name="cnn", grpc_port=None, rest_port=0, poll_seconds=0
        )
    )
    try:
        assert handle.core.registry.available() == {"cnn": [1]}
        assert len(_stray_warnings(caplog, f"{killed}: no push-completion marker")) == 1
    finally:
        handle.stop()
    push_ops.atomic_push(exported["cnn_v1"], model_dir, version=3, provenance={})
    assert sorted(os.listdir(model_dir)) == ["1", "3"]
    # A version copied in by hand (no provenance) is not the pusher's to delete.
    shutil.copytree(exported["cnn_v2"], os.path.join(model_dir, "4"))
    push_ops.atomic_push(exported["cnn_v1"], model_dir, version=5, provenance={})
    assert sorted(os.listdir(model_dir)) == ["1", "3", "4", "5"]
