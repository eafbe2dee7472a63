import dataclasses
import glob

import tensorflow as tf

from models.hparams import flatten, write_hparams


@dataclasses.dataclass(frozen=True)
class _Config:
    lr: float = 0.001
    filters: tuple = (32, 64)
    arch: str = "convnet"
    extra: object = None


def test_flatten_keeps_scalars_and_writes_sequences_as_json():
    assert flatten(_Config()) == {
        "arch": "convnet",
        "extra": "None",
        "filters": "[32, 64]",
        "lr": 0.001,
    }


def test_run_folder_gets_hparams_session_and_final_metric_scalars(tmp_path):
    write_hparams(str(tmp_path), _Config(), {"eval_accuracy": 0.9, "skipped": None}, step=3)
    plugins, scalars = set(), {}
    for path in glob.glob(str(tmp_path / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                plugins.add(value.metadata.plugin_data.plugin_name)
                if value.tag.startswith("hparams/"):
                    scalars[value.tag] = float(tf.make_ndarray(value.tensor))
    assert "hparams" in plugins
    assert list(scalars) == ["hparams/eval_accuracy"]
    assert abs(scalars["hparams/eval_accuracy"] - 0.9) < 1e-6


def test_the_data_a_run_trained_on_is_part_of_its_hparams(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = {"data_span": "7", "data_fingerprint": "0123456789ab"}
    write_hparams(str(tmp_path), _Config(), {"eval_accuracy": 0.9}, data=data)
    (path,) = glob.glob(str(tmp_path / "events.out.tfevents.*"))
    sessions = [
        plugin_data_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content)
        for event in tf.compat.v1.train.summary_iterator(path)
        for v in event.summary.value
        if v.metadata.plugin_data.plugin_name == "hparams"
    ]
    (start,) = [s.session_start_info for s in sessions if s.HasField("session_start_info")]
    assert start.hparams["data_span"].string_value == "7"
    assert start.hparams["data_fingerprint"].string_value == "0123456789ab"
    assert start.hparams["arch"].string_value == "convnet"
