"""The frozen configs refuse bad values on construction, naming the field, so
`vrl run`, `vrl compile` and Python callers all get the same checks."""

import math

import pytest

from models.cnn.config import TrainerConfig
from models.dqn.config import DqnConfig
from pipeline.image_config import ImagePipelineConfig
from pipeline.rl_config import RlPipelineConfig


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0),
        ("epochs", -1),
        ("epochs", 2.5),
        ("batch_size", 0),
        ("batch_size", 100_000),
        ("learning_rate", 0.0),
        ("learning_rate", math.nan),
        ("seed", -1),
        ("seed", 2**32),
        ("arch", "vgg"),
        ("optimizer", "lbfgs"),
        ("dropout", 1.0),
        ("filters", ()),
    ],
)
def test_trainer_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=rf"^TrainerConfig\.{field} ") as e:
        TrainerConfig(**{field: value})
    assert "\n" not in str(e.value) and "got" in str(e.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("image_size", 0),
        ("image_size", 4),
        ("image_size", 100_000),
        ("min_accuracy", 1.5),
        ("min_accuracy", math.nan),
        ("max_accuracy_drop", -0.01),
        ("max_accuracy_drop", math.inf),
        ("eval_fraction", 1.0),
        ("max_bad_fraction", -0.1),
        ("max_class_imbalance", 0.5),
        ("span", -1),
        ("input_format", "zip"),
        ("pipeline_name", "Image_Classifier"),
        ("model_name", "a/b"),
        ("model_name", ""),
        ("data_dir", ""),
    ],
)
def test_image_config_names_the_bad_field(field, value):
    kwargs = {"data_dir": "d", field: value}
    with pytest.raises(ValueError, match=rf"^ImagePipelineConfig\.{field} ") as e:
        ImagePipelineConfig(**kwargs)
    assert "\n" not in str(e.value) and "got" in str(e.value)


def test_configs_report_every_bad_field_on_one_line():
    with pytest.raises(ValueError) as e:
        TrainerConfig(epochs=0, batch_size=0)
    message = str(e.value)
    assert "epochs" in message and "batch_size" in message and "\n" not in message
    with pytest.raises(ValueError) as e:
        ImagePipelineConfig(data_dir="d", min_accuracy=2, eval_fraction=0)
    message = str(e.value)
    assert "min_accuracy" in message and "eval_fraction" in message and "\n" not in message


def test_image_size_and_top_k_are_the_pipelines_and_reach_the_trainer():
    config = ImagePipelineConfig(data_dir="d", image_size=64, top_k=(3,))
    assert (config.trainer.image_size, config.trainer.top_k) == (64, (3,))
    with pytest.raises(ValueError, match=r"trainer: TrainerConfig.image_size must be >= 32"):
        ImagePipelineConfig(data_dir="d", image_size=16, trainer=TrainerConfig(arch="resnet50"))


def test_image_config_defaults_and_cluster_paths_are_valid():
    ImagePipelineConfig(data_dir="d")
    ImagePipelineConfig(data_dir="gs://b/d", home="", pipeline_root="gs://b/r", image_size=512)


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_env_steps", 0),
        ("num_env_steps", -5),
        ("eval_episodes", 0),
        ("seed", -1),
        ("eval_seed", -1),
        ("threshold", math.nan),
        ("max_regression", 1.5),
        ("max_regression", -0.1),
        ("env_id", "Cart Pole"),
        ("env_id", ""),
        ("model_name", "a/b"),
        ("pipeline_name", "RL"),
        ("pipeline_root", ""),
        ("serving_base", ""),
    ],
)
def test_rl_config_names_the_bad_field(field, value):
    kwargs = {"pipeline_root": "r", "serving_base": "s", field: value}
    with pytest.raises(ValueError, match=rf"RlPipelineConfig\.{field} ") as e:
        RlPipelineConfig(**kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("learning_rate", 0.0),
        ("learning_rate", "abc"),
        ("gamma", 1.5),
        ("batch_size", 0),
        ("batch_size", True),
        ("replay_capacity", 10),
        ("hidden_units", ()),
        ("hidden_units", (64, 0)),
        ("target_update_tau", 0.0),
        ("gradient_steps", 0),
        ("eval_episodes", 0),
        ("n_step", 0),
    ],
)
def test_dqn_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=rf"DqnConfig\.{field} "):
        DqnConfig(**{field: value})


def test_dqn_config_takes_ints_for_floats_and_lists_for_tuples():
    config = DqnConfig.from_dict({"learning_rate": 1, "hidden_units": [32, 32]})
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.hidden_units == (32, 32)
