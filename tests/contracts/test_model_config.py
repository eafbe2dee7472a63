"""Which versions a model config entry serves: TF Serving's version policy rule,
checked by hand on small version lists and on real ModelServerConfig entries."""

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from contracts.model_config import (
    default_label,
    entry_loaded_versions,
    loaded_versions,
    model_entry,
)


def test_each_policy_picks_its_versions_ascending():
    available = [30, 10, 20]
    assert loaded_versions("latest", available) == [30]
    assert loaded_versions("latest", available, num_versions=2) == [20, 30]
    assert loaded_versions("latest", available, num_versions=0) == [30]  # 0 is unset: one
    assert loaded_versions("all", available) == [10, 20, 30]
    assert loaded_versions("specific", available, specific=[30, 10, 99]) == [10, 30]
    assert loaded_versions("latest", []) == []


def test_an_entry_without_a_policy_serves_the_newest_and_stable_wins_when_present():
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(
        'model_config_list { config { name: "a" base_path: "a" } '
        'config { name: "b" base_path: "b" version_labels { key: "stable" value: 10 } '
        "model_version_policy { specific { versions: 10 versions: 20 } } } }",
        config,
    )
    assert model_entry(config, "c") is None
    assert entry_loaded_versions(model_entry(config, "a"), [10, 20]) == [20]
    b = model_entry(config, "b")
    assert entry_loaded_versions(b, [10, 20, 30]) == [10, 20]
    assert default_label(b.version_labels) == "stable"
    assert default_label(b.version_labels, "canary") == "canary"
    assert default_label(model_entry(config, "a").version_labels) == ""
