import subprocess
import sys

import pytest

from vrl import cli


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
        ["compile", "image", "--out", "x.json", "--pipeline-root", "r"],
        ["submit", "x.json", "--host", "http://localhost:8080", "--cron", "0 0 3 * * *"],
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
    config = cli.image_config_from_args(args)
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
