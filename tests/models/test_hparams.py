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
