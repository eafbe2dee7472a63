"""Model config files: version policies, labels, base-path discovery and reloads."""

from __future__ import annotations

import os

import grpc
import numpy as np
import pytest
from tensorflow_serving.config import model_server_config_pb2

from serving.client import GrpcClient, RestClient
from serving.model_config import (
    ModelSpec,
    list_versions,
    load_config_file,
    parse_config_text,
    specs_from_base,
)
from serving.options import ServerOptions
from serving.server import start_server

CONFIG = """
model_config_list {
  config {
    name: "cnn"
    base_path: "models/cnn"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config {
    name: "policy"
    base_path: "models/policy"
    model_version_policy { latest { num_versions: 2 } }
  }
  config { name: "everything" base_path: "models/all" model_version_policy { all {} } }
}
"""


def test_parse_config_reads_policies_and_labels(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(CONFIG)
    cnn, policy, everything = load_config_file(str(path))
    assert cnn.base_path == os.path.join(str(tmp_path), "models/cnn")
    assert cnn.policy == "specific" and cnn.versions == (1, 2)
    assert cnn.label_version("canary") == 2 and cnn.label_version("nope") is None
    assert policy.policy == "latest" and policy.num_versions == 2
    assert everything.policy == "all"


@pytest.mark.parametrize(
    "spec, expected",
    [
        (ModelSpec("m", "/m"), {9}),
        (ModelSpec("m", "/m", num_versions=2), {5, 9}),
        (ModelSpec("m", "/m", policy="all"), {1, 5, 9}),
        (ModelSpec("m", "/m", policy="specific", versions=(1, 7)), {1}),
    ],
)
def test_version_policy_selects_versions(spec, expected):
    assert spec.select([1, 5, 9]) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("model_config_list { config { name: 'a' } }", "base_path are required"),
        (
            "model_config_list { config { name: 'a' base_path: 'x' } config { name: 'a' base_path: 'y' } }",
            "listed twice",
        ),
        ("custom_model_config {}", "only model_config_list"),
    ],
)
def test_bad_config_is_rejected_with_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_config_text(text)


def test_discovery_ignores_staging_hidden_and_incomplete_folders(tmp_path):
    model = tmp_path / "cnn"
    for name in ("1", "12", ".staging-13-ab", "notes", "14"):
        (model / name).mkdir(parents=True)
    for name in ("1", "12", ".staging-13-ab"):
        (model / name / "saved_model.pb").write_bytes(b"")
    (tmp_path / ".trash").mkdir()
    # Not models: a folder of other files (the server's config), one of other folders.
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "models.config").write_text("model_config_list {}\n")
    (tmp_path / "exports" / "draft").mkdir(parents=True)
    # Models: one waiting for its first version (empty, or only a push's staging).
    (tmp_path / "policy").mkdir()
    (tmp_path / "rollout" / ".staging-1-cd").mkdir(parents=True)
    assert list_versions(str(model)) == [1, 12]
    assert [s.name for s in specs_from_base(str(tmp_path))] == ["cnn", "policy", "rollout"]
    with pytest.raises(FileNotFoundError, match="model base path does not exist"):
        specs_from_base(str(tmp_path / "missing"))


def test_config_file_labels_specific_versions_and_reload(tmp_path, exported, helpers):
    base = tmp_path / "models"
    helpers.push(exported["cnn_v1"], str(base / "cnn"), 1)
    helpers.push(exported["cnn_v2"], str(base / "cnn"), 2)
    helpers.push(exported["cnn_v2"], str(base / "cnn"), 3)  # not in the specific list
    helpers.push(exported["policy"], str(base / "policy"), 1)
    (tmp_path / "models.config").write_text(CONFIG)
    handle = start_server(
        ServerOptions(
            model_config=str(tmp_path / "models.config"),
            grpc_port=0,
            rest_port=0,
            allow_labels_for_unavailable=True,
        )
    )
    image = [helpers.png_bytes()]
    try:
        handle.wait_until_available("cnn", version=2, timeout=60)
        assert handle.core.registry.available() == {"cnn": [1, 2], "policy": [1], "everything": []}
        client = GrpcClient(f"127.0.0.1:{handle.grpc_port}")
        rest = RestClient(f"127.0.0.1:{handle.rest_port}")
        assert (
            client.predict_images("cnn", image, version_label="stable")["label_names"][0] == b"cat"
        )
        assert (
            client.predict_images("cnn", image, version_label="canary")["label_names"][0] == b"dog"
        )
        assert client.predict_images("cnn", image)["label_names"][0] == b"dog"  # latest served
        assert rest.predict_images("cnn", image, label="stable")[0]["label_names"] == "cat"
        # GetModelStatus ignores a label (TF Serving's GetModelStatusImpl): every version.
        statuses = rest.status("cnn", label="canary")["model_version_status"]
        assert [s["version"] for s in statuses] == ["2", "1"]

        # Reload to "latest 1" without labels: version 1 goes, version 3 comes.
        config = model_server_config_pb2.ModelServerConfig()
        entry = config.model_config_list.config.add(name="cnn", base_path=str(base / "cnn"))
        entry.model_version_policy.latest.num_versions = 1
        client.reload(config)
        assert handle.core.registry.available() == {"cnn": [3]}
        with pytest.raises(grpc.RpcError) as raised:
            client.predict_images("cnn", image, version=1)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as raised:
            client.act("policy", np.zeros((1, 4)))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        # A model dropped by the reload keeps its state, END (TF Serving's state monitor).
        assert rest.status("policy")["model_version_status"][0]["state"] == "END"
        client.close()
        rest.close()
    finally:
        handle.stop()
