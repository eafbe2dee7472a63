import json

import pytest
import tensorflow as tf
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.atomic_pusher import constants
from components.atomic_pusher.executor import Executor
from contracts import serving_base


def _write(path, data):
    fileio.makedirs(path.rsplit("/", 1)[0])
    with fileio.open(path, "w") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))


def test_policy_push_carries_return_stats_trainer_config_and_baseline(tmp_path):
    root = "ram://pusher-prov"
    model = standard_artifacts.Model()
    model.uri = f"{root}/model"
    _write(f"{model.uri}/Format-Serving/saved_model.pb", "graph")
    summary = {"env_id": "CartPole-v1", "seed": 3, "config": {"lr": 0.001}, "env_steps": 900}
    _write(f"{model.uri}/training_summary.json", summary)
    baseline = f"{root}/baseline"
    _write(f"{baseline}/Format-Serving/assets.extra/vrl_push_complete.json", {"version": 41})
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = f"{root}/blessing"
    _write(f"{blessing.uri}/BLESSED", "")
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_string_custom_property("baseline_model", baseline)
    evaluation = standard_artifacts.ModelEvaluation()
    evaluation.uri = f"{root}/evaluation"
    report = {"mean_return": 500.0, "std_return": 0.0, "returns": [500.0, 500.0]}
    report.update(baseline_mean_return=480.0, threshold=475.0, reason="mean 500 >= 475")
    _write(f"{evaluation.uri}/report.json", report)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = f"{root}/pushed"
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=f"{root}/serving/dqn")
    )
    config = {constants.KIND_CONFIG: "rl", constants.PIPELINE_NAME_CONFIG: "vrl-rl-x"}

    def push(output):
        Executor().Do(
            {
                specs.MODEL_KEY: [model],
                specs.MODEL_BLESSING_KEY: [blessing],
                constants.EVALUATION_KEY: [evaluation],
            },
            {specs.PUSHED_MODEL_KEY: [output]},
            {
                specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination),
                specs.CUSTOM_CONFIG_KEY: json.dumps(config),
            },
        )

    push(pushed)
    version = serving_base.complete_versions(f"{root}/serving/dqn")[-1]
    with tf.io.gfile.GFile(f"{root}/serving/dqn/{version}/assets.extra/vrl_provenance.json") as f:
        record = json.load(f)
    assert record["version"] == version and record["kind"] == "rl"
    assert record["pipeline"]["name"] == "vrl-rl-x"
    assert record["trainer"] == {"lr": 0.001, "env_id": "CartPole-v1", "seed": 3}
    assert record["metrics"]["training"]["env_steps"] == 900
    evaluation = record["evaluation"]
    assert evaluation["value"] == 500.0 and evaluation["delta"] == 20.0
    assert evaluation["baseline"]["version"] == 41 and evaluation["blessed"] is True
    assert evaluation["episodes"] == 2 and evaluation["reason"].startswith("mean")
    assert record["code"]["package"] == "vision-rl-pipeline"
    assert pushed.get_int_custom_property(serving_base.ALREADY_SERVED_PROPERTY) == 0

    # The same model again: named as pushed (it is at the destination), not written again.
    again = standard_artifacts.PushedModel()
    again.uri = f"{root}/pushed-again"
    push(again)
    assert serving_base.complete_versions(f"{root}/serving/dqn") == [version]
    assert again.get_int_custom_property("pushed") == 1
    assert again.get_string_custom_property("pushed_destination").endswith(f"/{version}")
    assert again.get_int_custom_property(serving_base.ALREADY_SERVED_PROPERTY) == 1


def test_properties_kubeflow_hands_over_as_structs_read_as_plain_values():
    from tfx.types import artifact as artifact_lib

    from components.atomic_pusher.gather import custom_properties

    examples = standard_artifacts.Examples()
    examples.uri = "ram://kfp/examples"
    # Kubeflow's container entrypoint turns artifact metadata into struct values.
    # A count of 0 stays 0 (TFX's own accessor reads a falsy struct as None).
    structs = {"span": 3.0, "input_fingerprint": "fp", "bad_fraction": 0.25, "quarantined": 0.0}
    for name, value in structs.items():
        examples.mlmd_artifact.custom_properties[name].struct_value.CopyFrom(
            artifact_lib._encode_struct_value(value)
        )
    props = custom_properties(examples)
    assert props == {
        "uri": "ram://kfp/examples",
        "span": 3,
        "input_fingerprint": "fp",
        "bad_fraction": 0.25,
        "quarantined": 0,
    }


def test_disk_full_copying_the_pushed_model_artifact_is_one_line_naming_both_paths(monkeypatch):
    """The version is pushed; the copy into the pipeline's PushedModel artifact then finds
    its disk full (issue 21): one line saying what was pushed and what could not be written."""
    from components.atomic_pusher import executor as executor_module
    from contracts.serving_base import PushSpaceError

    root = "ram://pusher-full"
    model = standard_artifacts.Model()
    model.uri = f"{root}/model"
    _write(f"{model.uri}/Format-Serving/saved_model.pb", "graph")
    _write(f"{model.uri}/training_summary.json", {"env_id": "CartPole-v1", "env_steps": 9})
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = f"{root}/blessing"
    _write(f"{blessing.uri}/BLESSED", "")
    blessing.set_int_custom_property("blessed", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = f"{root}/pushed"
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=f"{root}/serving/dqn")
    )

    def full(src, dst):
        raise tf.errors.ResourceExhaustedError(None, None, "")

    monkeypatch.setattr(executor_module.io_utils, "copy_dir", full)
    with pytest.raises(PushSpaceError) as caught:
        Executor().Do(
            {specs.MODEL_KEY: [model], specs.MODEL_BLESSING_KEY: [blessing]},
            {specs.PUSHED_MODEL_KEY: [pushed]},
            {
                specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination),
                specs.CUSTOM_CONFIG_KEY: json.dumps({constants.KIND_CONFIG: "rl"}),
            },
        )
    (version,) = serving_base.complete_versions(f"{root}/serving/dqn")
    assert str(caught.value) == (
        f"pushed {root}/serving/dqn/{version}, but no space to write {pushed.uri}: it needs "
        "4 KB, free space unknown; free space on that filesystem or use another pipeline root"
    )
