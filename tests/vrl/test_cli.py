import subprocess
import sys

import pytest

from vrl import cli, image

HELP_EVERYWHERE = """
import argparse, sys
from vrl import cli

def format_all(parser):
    parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                format_all(sub)

format_all(cli.build_parser())
heavy = [m for m in ('tensorflow', 'tfx', 'tf_agents', 'apache_beam') if m in sys.modules]
print(','.join(heavy))
"""


def test_help_does_not_import_tensorflow_or_tfx():
    # Every command's help, with every default it shows (the image trainer's too).
    code = HELP_EVERYWHERE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m_vrl_is_the_vrl_command():
    out = subprocess.run(
        [sys.executable, "-m", "vrl", "run", "image", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("usage: vrl run image")
    assert "(default: convnet)" in out.stdout


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
            "r.io/i@sha256:" + "1" * 64,
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
            "r.io/i@sha256:" + "1" * 64,
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
    trainer = config.trainer
    assert (trainer.epochs, trainer.arch, config.halt_on_anomalies) == (3, "resnet", False)
    assert config.data_dir.endswith("/d")


def test_bad_config_value_is_a_clear_error(capsys):
    code = cli.main(["run", "image", "--data", "d", "--eval-fraction", "1.5"])
    assert code == 2
    assert "eval_fraction must be a number in [0.01, 0.99]" in capsys.readouterr().err


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


# Options whose value is None when not given and that have no default to show: inputs
# a run does without (a file to read, a server to ask, a schedule). Anything else with
# a None default must say in its help what applies instead.
NO_DEFAULT = {
    "model_base", "model_config", "model_base_path",  # serve: one of the three is needed
    "port", "rest_api_port",  # serve: "unset: --grpc-port / --rest-port"
    "max_image_side", "max_image_pixels",  # serve: "unset: ImageExampleGen's ingest limit"
    "monitoring_config_file", "batching_parameters_file", "write_config",
    "cron", "every", "namespace",  # submit
    "server", "home", "metadata_config",  # status, label, rollback, lineage
}  # fmt: skip
MISLEADING = ("default: None", "(default: )", "(default: [])", "default: True", "default: False")


def _all_parsers(parser, path=()):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, (*path, name))


def _option_help(parser, action) -> str:
    """The formatted help of one option, on one line."""
    formatter = parser._get_formatter()
    return " ".join(formatter._expand_help(action).split()) if action.help else ""


def test_every_help_shows_every_real_default():
    import dataclasses

    from models.cnn.config import TrainerConfig
    from vrl.help_format import describe

    trainer = {f.name: f.default for f in dataclasses.fields(TrainerConfig)}
    problems, trainer_flags_seen = [], 0
    for path, parser in _all_parsers(cli.build_parser()):
        command = " ".join(("vrl", *path))
        text = parser.format_help()
        problems += [f"{command}: {bad!r}" for bad in MISLEADING if bad in " ".join(text.split())]
        one_required = {
            a for g in parser._mutually_exclusive_groups if g.required for a in g._group_actions
        }
        for action in parser._actions:
            if not action.option_strings or action.required or action.dest == "help":
                continue
            if action in one_required:  # e.g. vrl act's --obs / --obs-file
                continue
            shown = _option_help(parser, action)
            flag = f"{command} {action.option_strings[0]}"
            if "default" not in shown and action.default is not None:
                problems.append(f"{flag}: no default shown ({action.default!r} applies)")
            if "default" not in shown and action.default is None and action.nargs != 0:
                if action.dest not in NO_DEFAULT:
                    problems.append(f"{flag}: None when not given; help must say what applies")
            # The image trainer's flags: None here, the trainer's default applies
            # (switches such as --no-sanity-checks are off by default instead).
            field = action.dest.removeprefix("trainer.")
            if path[-1:] == ("image",) and action.dest.startswith("trainer."):
                trainer_flags_seen += 1
                if f"(default: {describe(trainer[field])})" not in shown:
                    problems.append(f"{flag}: TrainerConfig's {trainer[field]!r} not shown")
    assert not problems, "\n".join(problems)
    assert trainer_flags_seen >= 2 * (len(trainer) - 2)  # run and compile image, all but 2


def test_help_shows_a_switch_as_off_and_computes_shown_defaults_only_when_printed():
    import argparse

    from vrl.help_format import DefaultsFormatter, show_default

    parser = argparse.ArgumentParser(formatter_class=DefaultsFormatter)
    parser.add_argument("--no-cache", dest="cache", action="store_false", help="re-run")
    calls = []
    show_default(
        parser.add_argument("--epochs", type=int, help="epochs"), lambda: calls.append(1) or 20
    )
    parser.add_argument("--labels", help="label file")
    parser.add_argument("--tags", action="append", default=[], help="tags")
    assert parser.parse_args([]).epochs is None and not calls
    text = " ".join(parser.format_help().split())
    assert "re-run (default: off)" in text and "epochs (default: 20)" in text and calls
    assert "label file" in text and "label file (default" not in text
    assert "tags (default: none)" in text


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
            "r.io/i@sha256:" + "1" * 64,
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
