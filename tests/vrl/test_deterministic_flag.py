"""`--deterministic` reaches the trainer's config the same way for `vrl run` and `vrl compile`."""

from vrl import rl
from vrl.cli import build_parser

COMPILE_RL = ["compile", "rl", "--out", "x.yaml", "--pipeline-root", "gs://b/r"]
COMPILE_RL += ["--image", "r.io/i@sha256:" + "1" * 64, "--serving-base", "gs://b/m"]


def _dqn_config(argv):
    args = build_parser().parse_args(argv)
    root = "gs://b/r" if argv[0] == "compile" else None
    return rl.config_from_args(args, pipeline_root=root).dqn_config


def test_rl_runs_are_deterministic_unless_asked_not_to_be():
    assert _dqn_config(["run", "rl"]).deterministic is True
    assert _dqn_config(["run", "rl", "--no-deterministic"]).deterministic is False
    assert _dqn_config([*COMPILE_RL, "--no-deterministic"]).deterministic is False
    assert _dqn_config([*COMPILE_RL, "--deterministic"]).deterministic is True


def test_deterministic_flag_overrides_a_dqn_field_given_the_long_way():
    argv = ["run", "rl", "--dqn", "deterministic=false", "--deterministic"]
    assert _dqn_config(argv).deterministic is True


def test_image_trainer_is_deterministic_only_when_asked():
    from vrl import image

    def trainer_config(*flags):
        args = build_parser().parse_args(["run", "image", "--data", "d", *flags])
        return image.config_from_args(args).trainer_config()

    assert trainer_config()["deterministic"] is False  # the trainer's default
    assert trainer_config("--deterministic")["deterministic"] is True
    assert trainer_config("--no-deterministic")["deterministic"] is False
