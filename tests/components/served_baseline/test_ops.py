"""Which version is served: TF Serving's label and version-policy rules."""

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from components.served_baseline import ops


def _config(text: str):
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def _entry(body: str) -> str:
    return f'model_config_list {{ config {{ name: "clf" base_path: "/m/clf" {body} }} }}'


def test_without_a_config_the_newest_complete_version_is_served():
    served = ops.served_version(None, "b/models.config", "clf", [1, 2, 3])
    assert served.version == 3
    assert "default" in served.why


def test_nothing_pushed_means_nothing_served():
    assert ops.served_version(None, "b/models.config", "clf", []).version is None


def test_stable_label_wins_over_newer_versions():
    config = _config(
        _entry(
            "model_version_policy { specific { versions: 1 versions: 3 } } "
            'version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 3 }'
        )
    )
    served = ops.served_version(config, "b/models.config", "clf", [1, 2, 3])
    assert (served.version, served.label) == (1, "stable")
    assert ops.served_version(config, "c", "clf", [1, 2, 3], label="canary").version == 3


@pytest.mark.parametrize(
    "policy, expected",
    [
        ("specific { versions: 2 versions: 7 }", 2),  # 7 was never pushed
        ("latest { num_versions: 2 }", 3),
        ("all {}", 3),
        ("", 3),
    ],
)
def test_without_labels_the_version_policy_chooses(policy, expected):
    body = f"model_version_policy {{ {policy} }}" if policy else ""
    config = _config(_entry(body))
    assert ops.served_version(config, "b/models.config", "clf", [1, 2, 3]).version == expected


def test_specific_policy_listing_no_pushed_version_serves_nothing():
    config = _config(_entry("model_version_policy { specific { versions: 9 } }"))
    assert ops.served_version(config, "b/models.config", "clf", [1, 2]).version is None


def test_a_model_missing_from_the_config_falls_back_to_the_newest_version():
    config = _config('model_config_list { config { name: "other" base_path: "/m/o" } }')
    served = ops.served_version(config, "b/models.config", "clf", [4, 5])
    assert served.version == 5
    assert "not in" in served.why


def test_a_named_label_the_config_lacks_is_one_clear_error():
    config = _config(_entry('version_labels { key: "stable" value: 1 }'))
    with pytest.raises(ValueError, match=r"b/models.config: model 'clf' has no label 'canary'"):
        ops.served_version(config, "b/models.config", "clf", [1], label="canary")
    with pytest.raises(ValueError, match="no such file"):
        ops.served_version(None, "b/models.config", "clf", [1], label="canary")


def test_a_label_on_a_version_not_pushed_is_one_clear_error():
    config = _config(_entry('version_labels { key: "stable" value: 4 }'))
    with pytest.raises(ValueError, match="names version 4, which is not a complete version"):
        ops.served_version(config, "b/models.config", "clf", [1, 2])


def test_a_broken_config_file_names_the_file(tmp_path):
    path = tmp_path / "models.config"
    path.write_text("model_config_list { config { nme: 1 } }")
    with pytest.raises(ValueError, match=f"{path}: not a text-proto ModelServerConfig"):
        ops.read_model_config(str(path))
    assert ops.read_model_config(str(tmp_path / "absent.config")) is None
