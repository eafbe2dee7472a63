import subprocess
import sys

import pytest

from vrl import cli, image


def test_help_does_not_import_tensorflow_or_tfx():
    code = (
        "import sys; from vrl import cli; cli.build_parser(); "
        "heavy = [m for m in ('tensorflow', 'tfx', 'tf_agents', 'apache_beam') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_documented_command_is_registered(capsys):
    parser = cli.build_parser()
    for argv in (
        ["data", "shapes", "--out", "x"],
        ["data", "digits", "--out", "x"],
        ["run", "image", "--data", "x"],
        ["run", "rl", "--env", "CartPole-v1"],
        ["serve", "--model-base", "x"],
        ["predict", "--model", "m", "img.png"],
        ["act", "--model", "m", "--obs", "0,0,0,0"],
        [
            "compile",
            "image",
            "--out",
            "x.yaml",
            "--pipeline-root",
            "r",
            "--image",
            "r.io/i@sha256:1",
            "--data",
            "gs://b/d",
            "--serving-base",
            "gs://b/m",
        ],
        [
            "compile",
            "rl",
            "--out",
            "x.yaml",
            "--pipeline-root",
            "r",
            "--image",
            "r.io/i@sha256:1",
            "--serving-base",
            "/models",
            "--env",
            "Acrobot-v1",
            "--dqn",
            "learning_rate=1e-3",
        ],
        ["submit", "x.yaml", "--host", "http://localhost:8080", "--cron", "0 0 3 * * *"],
        ["demo"],
    ):
        assert callable(parser.parse_args(argv).func), argv


def test_image_flags_reach_the_frozen_config():
    args = cli.build_parser().parse_args(
        [
            "run",
            "image",
            "--data",
            "d",
            "--epochs",
            "3",
            "--arch",
            "resnet",
            "--no-halt-on-anomalies",
        ]
    )
    config = image.config_from_args(args)
    assert (config.epochs, config.arch, config.halt_on_anomalies) == (3, "resnet", False)
    assert config.data_dir.endswith("/d")


def test_bad_config_value_is_a_clear_error(capsys):
    code = cli.main(["run", "image", "--data", "d", "--eval-fraction", "1.5"])
    assert code == 2
    assert "eval_fraction must be in [0.01, 0.99]" in capsys.readouterr().err


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as e:
        cli.build_parser().parse_args(["nope"])
    assert e.value.code == 2


def test_run_and_compile_share_every_image_flag():
    parser = cli.build_parser()

    def flags(argv):
        return {a.dest for a in _subparser(parser, argv)._actions}

    # Only the local runner's own flags differ: --home, and W&B logging of the
    # finished run (vrl/tracking.py), which a compiled pipeline has no step for.
    local_only = {"home", "wandb", "wandb_project"}
    run_flags = flags(["run", "image"]) - local_only
    assert run_flags <= flags(["compile", "image"])
    assert flags(["run", "rl"]) - local_only <= flags(["compile", "rl"])


def _subparser(parser, path):
    import argparse

    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def test_every_help_shows_its_defaults():
    parser = cli.build_parser()
    for path in (
        ["run", "image"],
        ["run", "rl"],
        ["compile", "image"],
        ["compile", "rl"],
        ["submit"],
    ):
        text = _subparser(parser, path).format_help()
        assert "(default:" in text, path


def test_compile_flags_build_the_same_rl_config_as_run():
    from vrl import rl

    common = [
        "--env",
        "Acrobot-v1",
        "--steps",
        "700",
        "--dqn",
        "learning_rate=0.001",
        "--seed",
        "3",
    ]
    run_args = cli.build_parser().parse_args(["run", "rl", *common])
    compile_args = cli.build_parser().parse_args(
        [
            "compile",
            "rl",
            "--out",
            "x.yaml",
            "--pipeline-root",
            "gs://b/r",
            "--image",
            "r.io/i@sha256:1",
            "--serving-base",
            "gs://b/m",
            *common,
        ]
    )
    local = rl.config_from_args(run_args)
    cluster = rl.config_from_args(compile_args, pipeline_root="gs://b/r")
    assert local.dqn_config == cluster.dqn_config and local.dqn_config.learning_rate == 0.001
    assert (cluster.env_id, cluster.num_env_steps, cluster.seed) == ("Acrobot-v1", 700, 3)
    assert cluster.serving_base == "gs://b/m" and cluster.pipeline_root == "gs://b/r"


def test_unknown_dqn_field_is_a_one_line_error(capsys):
    code = cli.main(["run", "rl", "--dqn", "learnin_rate=1"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "learnin_rate" in err and "\n" not in err
