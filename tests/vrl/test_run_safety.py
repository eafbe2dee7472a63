"""Bad input to `vrl run` is refused before anything runs: exit 2, one line
naming the field or file, nothing written (issue 9, items 9 and 11)."""

import argparse
import dataclasses
import os

import pytest

from vrl import cli


def _tree(root):
    return sorted(
        os.path.relpath(os.path.join(d, n), root)
        for d, dirs, files in os.walk(root)
        for n in dirs + files
    )


@pytest.fixture
def work(tmp_path):
    """Two class folders of one file each, and a regular file to nest paths under."""
    for name in ("cats", "dogs"):
        (tmp_path / "data" / name).mkdir(parents=True)
        (tmp_path / "data" / name / "a.png").write_bytes(b"x")
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "garbage.pbtxt").write_bytes(b"feature {{ name: \x00\xff")
    return tmp_path


def _refused(work, capsys, argv, names):
    """Runs `vrl` on argv; asserts exit 2, one stderr line naming `names`, nothing written."""
    before = _tree(work)
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("vrl: error: ") and err.count("\n") == 1, err
    for name in names:
        assert name in err, (name, err)
    assert out == ""
    assert _tree(work) == before
    assert not (work / "home").exists()


IMAGE_CASES = [
    (["--epochs", "0"], ["epochs"]),
    (["--epochs", "-1"], ["epochs"]),
    (["--batch-size", "0"], ["batch_size"]),
    (["--image-size", "0"], ["image_size"]),
    (["--image-size", "100000"], ["image_size"]),
    (["--learning-rate", "0"], ["learning_rate"]),
    (["--min-accuracy", "1.5"], ["min_accuracy"]),
    (["--min-accuracy", "nan"], ["min_accuracy"]),
    (["--max-accuracy-drop", "-0.1"], ["max_accuracy_drop"]),
    (["--max-class-imbalance", "0.5"], ["max_class_imbalance"]),
    (["--seed", "-1"], ["seed"]),
    (["--span", "-1"], ["span"]),
    (["--model-name", "a/b"], ["model_name"]),
    (["--pipeline-name", "Not_Kubeflow"], ["pipeline_name"]),
    (["--schema", "missing.pbtxt"], ["schema_path", "missing.pbtxt"]),
    (["--schema", "{work}/garbage.pbtxt"], ["schema_path", "garbage.pbtxt", "TFDV schema"]),
    (["--serving-base", "{work}/afile/serving"], ["serving_base", "afile"]),
]


@pytest.mark.parametrize("flags, names", IMAGE_CASES)
def test_run_image_refuses_bad_values_before_anything_runs(work, capsys, flags, names):
    flags = [f.format(work=work) for f in flags]
    argv = ["run", "image", "--data", str(work / "data"), "--home", str(work / "home"), *flags]
    _refused(work, capsys, argv, names)


def test_run_image_refuses_an_unwritable_home(work, capsys):
    argv = ["run", "image", "--data", str(work / "data"), "--home", str(work / "afile" / "h")]
    _refused(work, capsys, argv, ["home", "afile"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_run_image_refuses_a_read_only_home(work, capsys):
    (work / "ro").mkdir()
    (work / "ro").chmod(0o555)
    try:
        argv = ["run", "image", "--data", str(work / "data"), "--home", str(work / "ro" / "h")]
        _refused(work, capsys, argv, ["home", "not writable"])
    finally:
        (work / "ro").chmod(0o755)


def test_run_image_refuses_a_single_class_from_the_folder_layout(work, capsys):
    (work / "data" / "dogs" / "a.png").unlink()
    argv = ["run", "image", "--data", str(work / "data"), "--home", str(work / "home")]
    _refused(work, capsys, argv, ["data_dir", "at least 2 class folders", "'cats'"])


def test_run_image_refuses_a_span_that_is_not_there(work, capsys):
    os.rename(work / "data", work / "span-1")
    (work / "data").mkdir()
    os.rename(work / "span-1", work / "data" / "span-1")
    argv = ["run", "image", "--data", str(work / "data"), "--home", str(work / "home")]
    _refused(work, capsys, [*argv, "--span", "7"], ["span 7", "span-7"])


def test_run_image_refuses_a_missing_data_folder(work, capsys):
    argv = ["run", "image", "--data", str(work / "nope"), "--home", str(work / "home")]
    _refused(work, capsys, argv, ["data_dir", "nope"])


RL_CASES = [
    (["--env", "Foo-v0"], ["env_id", "Foo-v0"]),
    (["--env", "CartPole-v9"], ["env_id", "CartPole-v9"]),
    (["--env", "Pendulum-v1"], ["env_id", "Discrete"]),
    (["--steps", "0"], ["num_env_steps"]),
    (["--eval-episodes", "0"], ["eval_episodes"]),
    (["--seed", "-1"], ["seed"]),
    (["--threshold", "nan"], ["threshold"]),
    (["--max-regression", "2"], ["max_regression"]),
    (["--dqn", "gamma=2"], ["gamma"]),
    (["--dqn", "learning_rate=abc"], ["learning_rate"]),
    (["--serving-base", "{work}/afile/serving"], ["serving_base", "afile"]),
]


@pytest.mark.parametrize("flags, names", RL_CASES)
def test_run_rl_refuses_bad_values_before_anything_runs(work, capsys, flags, names):
    flags = [f.format(work=work) for f in flags]
    _refused(work, capsys, ["run", "rl", "--home", str(work / "home"), *flags], names)


def test_run_rl_refuses_an_unwritable_home(work, capsys):
    _refused(work, capsys, ["run", "rl", "--home", str(work / "afile" / "h")], ["home", "afile"])


@pytest.mark.parametrize(
    "pipeline, flags, field",
    [
        ("image", ["--data", "gs://b/d", "--epochs", "0"], "epochs"),
        ("image", ["--data", "gs://b/d", "--image-size", "100000"], "image_size"),
        ("rl", ["--steps", "0"], "num_env_steps"),
        ("rl", ["--dqn", "gamma=2"], "gamma"),
        # No env is created at compile; an id gymnasium does not know fails here, not
        # in the cluster's first pod (issue 21).
        ("rl", ["--env", "Foo-v0"], "env_id 'Foo-v0'"),
        ("rl", ["--env", "CartPole-v9"], "env_id 'CartPole-v9'"),
    ],
)
def test_compile_refuses_the_same_bad_values(work, capsys, pipeline, flags, field):
    spec = work / "spec.yaml"
    argv = ["compile", pipeline, "--out", str(spec), "--pipeline-root", "gs://b/r"]
    argv += ["--image", "r.io/i@sha256:" + "1" * 64, "--serving-base", "gs://b/m", *flags]
    _refused(work, capsys, argv, [field])


def test_run_image_refuses_a_manifest_that_is_not_utf8_naming_file_and_line(work, capsys):
    """A Latin-1 manifest is caught by the pre-run checks (before, ImageExampleGen
    found it 35 s into the run)."""
    (work / "csvdata").mkdir()
    rows = "path,label\nimg/a.png,dog\nimg/b.png,caf\xe9\n"
    (work / "csvdata" / "manifest.csv").write_bytes(rows.encode("latin-1"))
    argv = ["run", "image", "--data", str(work / "csvdata"), "--home", str(work / "home")]
    _refused(work, capsys, argv, ["manifest.csv:3", "not UTF-8", "0xe9"])


def _commands_with_home() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every `vrl` (sub)command that takes --home, by its words."""
    found = {}

    def walk(parser, words):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, (*words, name))
            elif "--home" in action.option_strings:
                found[words] = parser

    walk(cli.build_parser(), ())
    return found


HOME_COMMANDS = {
    ("run", "image"): ["--data", "{work}/data"],
    ("run", "rl"): [],
    ("run", "infer"): ["--data", "{work}/data"],
    ("status",): [],
    ("lineage",): ["m"],
    ("report",): ["m", "--out", "{work}/r.html"],
    ("harvest",): ["m", "--out", "{work}/h", "--budget", "1"],
    ("demo",): [],
}


def test_every_command_with_home_is_in_the_empty_home_table():
    assert set(_commands_with_home()) == set(HOME_COMMANDS)


@pytest.mark.parametrize("words", sorted(HOME_COMMANDS), ids=" ".join)
@pytest.mark.parametrize("home", ["", "  "])
def test_an_empty_home_is_refused_by_every_command_that_takes_it(
    work, capsys, monkeypatch, words, home
):
    monkeypatch.chdir(work)  # where an accepted empty home would write (seen by _refused)
    rest = [a.format(work=work) for a in HOME_COMMANDS[words]]
    _refused(work, capsys, [*words, *rest, "--home", home], ["--home", "empty"])


def test_rl_preflight_sizes_the_replay_memory_to_the_run(work, monkeypatch):
    """The memory check counts the transitions the trainer allocates, min(capacity,
    the run's steps), not the full capacity (issue 21): with 10 MiB available, a
    2,000-step run of a 1M-transition config passes (under 1 MB of MinAtar frames)
    and a run long enough to fill it is refused, in one line."""
    from models.dqn import memory
    from models.dqn.config import DqnConfig
    from pipeline.rl_config import RlPipelineConfig
    from vrl.local import preflight_rl

    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 10 * 2**20)
    config = RlPipelineConfig(
        env_id="MinAtar/Breakout-v1",
        num_env_steps=2_000,
        pipeline_root=str(work / "home" / "tfx" / "p"),
        serving_base=str(work / "home" / "serving"),
        dqn_config=DqnConfig(replay_capacity=1_000_000),
    )
    before = _tree(work)
    preflight_rl(config)
    assert _tree(work) == before
    with pytest.raises(ValueError, match=r"^MinAtar/Breakout-v1: replay memory of 1_000_000 "):
        preflight_rl(dataclasses.replace(config, num_env_steps=2_000_000))
