"""ServedBaseline and the pusher executors on ram:// URIs (any gfile filesystem)."""

import tensorflow as tf
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.atomic_pusher import ops as push_ops
from components.served_baseline import constants
from components.served_baseline.executor import Executor, is_present
from contracts import serving_base


def _saved_model(uri: str, payload: bytes) -> str:
    fileio.makedirs(f"{uri}/variables")
    for rel, data in (("saved_model.pb", b"graph"), ("variables/variables.index", payload)):
        with fileio.open(f"{uri}/{rel}", "wb") as f:
            f.write(data)
    return uri


def _run(model_dir: str, out_uri: str, label: str = ""):
    out = standard_artifacts.Model()
    out.uri = out_uri
    params = {constants.MODEL_DIR_KEY: model_dir, constants.LABEL_KEY: label}
    Executor().Do({}, {constants.MODEL_KEY: [out]}, params)
    return out


def _copied_payload(out) -> bytes:
    copied = f"{path_utils.serving_model_dir(out.uri)}/variables/variables.index"
    with tf.io.gfile.GFile(copied, "rb") as f:
        return f.read()


def test_nothing_served_yet_gives_an_empty_baseline():
    out = _run("ram://baseline-a/serving/clf", "ram://baseline-a/out")
    assert not is_present(out)
    assert out.get_int_custom_property(constants.PRESENT_PROPERTY) == 0


def test_newest_complete_version_is_copied_and_a_half_push_is_skipped():
    base = "ram://baseline-b/serving/clf"
    push_ops.atomic_push(_saved_model("ram://baseline-b/m1", b"one"), base, version=1)
    push_ops.atomic_push(_saved_model("ram://baseline-b/m2", b"two"), base, version=2)
    _saved_model(f"{base}/3", b"half")  # no completion marker yet
    out = _run(base, "ram://baseline-b/out")
    assert is_present(out)
    assert out.get_int_custom_property(constants.VERSION_PROPERTY) == 2
    assert _copied_payload(out) == b"two"


def test_after_a_rollback_the_baseline_is_the_version_rolled_back_to(tmp_path):
    """Push v1, v2; label stable v2; roll back with the project's own rollback:
    the next run's baseline is v1, not the newest version on disk."""
    from serving.deploy import write_models_config
    from vrl import labels

    base = str(tmp_path / "serving")
    model_dir = f"{base}/clf"
    push_ops.atomic_push(_saved_model(str(tmp_path / "m1"), b"one"), model_dir, version=1)
    push_ops.atomic_push(_saved_model(str(tmp_path / "m2"), b"two"), model_dir, version=2)
    config = f"{base}/{constants.MODEL_CONFIG_FILE}"
    write_models_config(base, config, container_base=base)
    assert (
        _run(model_dir, str(tmp_path / "run0")).get_int_custom_property(constants.VERSION_PROPERTY)
        == 2
    )

    labels.set_label(config, "clf", "stable", 2, server=None)
    labels.rollback(config, "clf", to=None, server=None)

    out = _run(model_dir, str(tmp_path / "run1"))
    assert out.get_int_custom_property(constants.VERSION_PROPERTY) == 1
    assert out.get_string_custom_property(constants.LABEL_PROPERTY) == "stable"
    assert _copied_payload(out) == b"one"


def test_a_named_label_picks_its_version(tmp_path):
    from serving.deploy import write_models_config
    from vrl import labels

    base = str(tmp_path / "serving")
    for version in (1, 2, 3):
        payload = str(version).encode()
        src = _saved_model(str(tmp_path / f"m{version}"), payload)
        push_ops.atomic_push(src, f"{base}/clf", version=version)
    config = f"{base}/{constants.MODEL_CONFIG_FILE}"
    write_models_config(base, config, container_base=base)
    labels.apply_labels(config, "clf", {"stable": 1, "canary": 3}, server=None, timeout=1)
    assert _copied_payload(_run(f"{base}/clf", str(tmp_path / "a"))) == b"1"
    assert _copied_payload(_run(f"{base}/clf", str(tmp_path / "b"), label="canary")) == b"3"


def test_pusher_executor_pushes_a_blessed_model_to_a_ram_base():
    from tfx.proto import pusher_pb2
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    from components.atomic_pusher.executor import Executor as PusherExecutor

    model = standard_artifacts.Model()
    model.uri = "ram://pusher-exec/model"
    _saved_model(f"{model.uri}/Format-Serving", b"weights")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = "ram://pusher-exec/blessing"
    fileio.makedirs(blessing.uri)
    with fileio.open(f"{blessing.uri}/BLESSED", "w") as f:
        f.write("")
    blessing.set_int_custom_property("blessed", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = "ram://pusher-exec/pushed"
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(
            base_directory="ram://pusher-exec/serving/clf"
        )
    )
    PusherExecutor().Do(
        {specs.MODEL_KEY: [model], specs.MODEL_BLESSING_KEY: [blessing]},
        {specs.PUSHED_MODEL_KEY: [pushed]},
        {
            specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination),
            specs.CUSTOM_CONFIG_KEY: "null",
        },
    )
    assert pushed.get_int_custom_property("pushed") == 1
    assert serving_base.complete_versions("ram://pusher-exec/serving/clf") == [
        int(pushed.get_string_custom_property("pushed_version"))
    ]
