"""One schema at submit time: `vrl submit --param` addresses every schema field of a
default compile and checks each value with its field's own check before sending,
against the same Kubeflow Pipelines REST stand-in as test_submit.py (conftest)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from kubeflow.compile import load_package
from models.cnn.config import TrainerConfig
from models.fields import setting
from pipeline.image_config import ImagePipelineConfig
from vrl import cli


def _posts(server, path):
    return [body for method, p, body in server.requests if method == "POST" and p == path]


# One schema: a trainer field added to its dataclass gets its flag, help, compiled
# default and submit-time check with no other edit. TrainerWithWarmup stands for
# TrainerConfig with one field added; the monkeypatch makes it the image config's
# trainer, as editing models/cnn/config.py would.
@dataclasses.dataclass(frozen=True)
class TrainerWithWarmup(TrainerConfig):
    warmup_epochs: int = setting(0, kind=int, low=0, high=100)
    """Epochs of linear learning-rate warmup before the schedule."""


@pytest.fixture
def warmup_field(monkeypatch):
    trainer = ImagePipelineConfig.__dataclass_fields__["trainer"]
    monkeypatch.setattr(trainer, "default_factory", TrainerWithWarmup)


@pytest.fixture(scope="module")
def default_image_package(tmp_path_factory):
    """`vrl compile image` with only the required flags (module-wide: TFX is slow)."""
    return _compile_image(str(tmp_path_factory.mktemp("kfp") / "image.yaml"))


def _compile_image(out: str, *flags: str) -> str:
    argv = ["compile", "image", "--data", "gs://b/d", "--serving-base", "/models", "--out", out]
    argv += ["--pipeline-root", "gs://b/r", "--image", "r.io/vrl@sha256:" + "1" * 64, *flags]
    assert cli.main(argv) == 0
    return out


def _run_parameters(server) -> dict:
    (run,) = _posts(server, "/apis/v2beta1/runs")
    return run["runtime_config"]["parameters"]


def test_an_added_trainer_field_gets_flag_help_compile_and_submit(
    warmup_field, kfp_api, tmp_path, capsys
):
    help_text = " ".join(_subparser(cli.build_parser(), ["run", "image"]).format_help().split())
    assert "--warmup-epochs WARMUP_EPOCHS Epochs of linear learning-rate warmup" in help_text
    assert "before the schedule. (default: 0)" in help_text
    package = _compile_image(str(tmp_path / "image.yaml"), "--warmup-epochs", "2")
    spec, _ = load_package(package)
    trainer = json.loads(
        spec.root.input_definitions.parameters["trainer_config"].default_value.string_value
    )
    assert trainer["warmup_epochs"] == 2
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    assert cli.main(["submit", package, "--host", host, "--param", "warmup_epochs=101"]) == 2
    assert "TrainerWithWarmup.warmup_epochs must be an int in [0, 100]" in capsys.readouterr().err
    assert kfp_api.requests == []
    assert cli.main(["submit", package, "--host", host, "--param", "warmup_epochs=5"]) == 0
    assert json.loads(_run_parameters(kfp_api)["trainer_config"])["warmup_epochs"] == 5


def test_every_trainer_field_and_image_size_are_addressable_on_a_default_compile(
    default_image_package, kfp_api
):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    given = ["epochs=5", "learning_rate=0.01", "patience=3", "image_size=64", "min_accuracy=0.8"]
    argv = ["submit", default_image_package, "--host", host]
    assert cli.main(argv + [x for p in given for x in ("--param", p)]) == 0
    params = _run_parameters(kfp_api)
    trainer = json.loads(params["trainer_config"])
    assert (trainer["epochs"], trainer["learning_rate"], trainer["patience"]) == (5, 0.01, 3)
    # One image_size: Transform's custom_config; the Trainer reads it from Transform's graph.
    assert json.loads(params["transform_config"]) == {"image_size": 64}
    assert "image_size" not in trainer and params["min_accuracy"] == 0.8


@pytest.mark.parametrize(
    "param, message",
    [
        ("epochs=abc", "--param epochs='abc': expected an int, got 'abc'"),
        ("epochs=-3", "TrainerConfig.epochs must be an int in [1, 10000], got -3"),
        ("min_accuracy=7", "ImagePipelineConfig.min_accuracy must be a number in [0, 1], got 7.0"),
        ("image_size=4", "ImagePipelineConfig.image_size must be an int in [8, 512], got 4"),
        ("arch=vgg", "TrainerConfig.arch must be one of"),
        ("eval_fraction=0.5", "fixed when the package is compiled; compile it again with"),
    ],
)
def test_submit_refuses_a_bad_value_on_one_line_and_sends_nothing(
    default_image_package, kfp_api, capsys, param, message
):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    assert cli.main(["submit", default_image_package, "--host", host, "--param", param]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert kfp_api.requests == []


def test_cross_field_checks_run_at_submit_too(default_image_package, kfp_api, capsys):
    # arch and image_size live in two parameters; the trainer's own check sees both.
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    argv = ["submit", default_image_package, "--host", host, "--param", "arch=resnet50"]
    assert cli.main(argv + ["--param", "image_size=16"]) == 2
    assert "image_size must be >= 32 for arch 'resnet50'" in capsys.readouterr().err
    assert kfp_api.requests == []


def _subparser(parser, path):
    import argparse

    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


@pytest.fixture(scope="module")
def default_rl_package(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("kfp") / "rl.yaml")
    argv = ["compile", "rl", "--serving-base", "/models", "--out", out]
    argv += ["--pipeline-root", "gs://b/r", "--image", "r.io/vrl@sha256:" + "1" * 64]
    assert cli.main(argv) == 0
    return out


def test_every_dqn_field_and_the_step_budget_are_addressable_on_a_default_compile(
    default_rl_package, kfp_api
):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    given = ["gamma=0.95", "hidden_units=64,64", "num_envs=4", "num_env_steps=1000"]
    argv = ["submit", default_rl_package, "--host", host]
    assert cli.main(argv + [x for p in given for x in ("--param", p)]) == 0
    params = _run_parameters(kfp_api)
    dqn = json.loads(params["dqn_config"])
    assert (dqn["gamma"], dqn["hidden_units"], dqn["num_envs"]) == (0.95, [64, 64], 4)
    assert params["env_steps"] == 1000  # the field's name reaches its parameter


@pytest.mark.parametrize(
    "param, message",
    [
        ("gamma=2", "DqnConfig.gamma must be a number in [0, 1], got 2.0"),
        ("network=vgg", "DqnConfig.network must be one of"),
        ("num_env_steps=0", "RlPipelineConfig.num_env_steps must be an int in [1, 100_000_000]"),
        ("epsilon_start=0.01", "DqnConfig.epsilon_end must be <= epsilon_start"),
    ],
)
def test_submit_refuses_a_bad_dqn_value_and_sends_nothing(
    default_rl_package, kfp_api, capsys, param, message
):
    host = f"http://127.0.0.1:{kfp_api.server_port}"
    assert cli.main(["submit", default_rl_package, "--host", host, "--param", param]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert kfp_api.requests == []
