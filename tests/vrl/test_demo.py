"""`vrl demo` runs the RL pipeline as a child `vrl run rl` beside the image pipeline."""

import os
import subprocess
import sys

import pytest

from pipeline.rl_config import default_model_name
from vrl import cli, demo, rl


@pytest.mark.parametrize("env_id", ["CartPole-v1", "MinAtar/Breakout-v1"])
def test_the_child_command_pushes_the_policy_where_the_demo_queries_it(tmp_path, env_id):
    argv = demo.rl_argv(env_id, str(tmp_path))
    assert argv[:3] == [sys.executable, "-m", "vrl"]
    config = rl.config_from_args(cli.build_parser().parse_args(argv[3:]))
    assert config.env_id == env_id
    assert config.model_name == default_model_name(env_id)
    assert config.serving_base == os.path.join(str(tmp_path), "serving")


def _child(tmp_path, code: str) -> demo.RlChild:
    log_path = tmp_path / "child.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT
        )
    return demo.RlChild(process, str(log_path))


def test_finish_shows_the_childs_output_and_returns_its_exit_code(tmp_path, capsys):
    child = _child(tmp_path, "import sys; print('eval return 500.0'); sys.exit(3)")
    assert child.finish() == 3
    assert "eval return 500.0" in capsys.readouterr().out


def test_stop_ends_a_child_that_is_still_running(tmp_path):
    child = _child(tmp_path, "import time; time.sleep(600)")
    child.stop()
    assert child.process.returncode is not None


def test_the_child_runs_with_one_tensorflow_thread_per_pool(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "3")  # a user's own setting is kept
    shown = "import os; print(os.environ['TF_NUM_INTRAOP_THREADS'], os.environ['TF_NUM_INTEROP_THREADS'])"
    monkeypatch.setattr(demo, "rl_argv", lambda env_id, home: [sys.executable, "-c", shown])
    child = demo.RlChild.start("CartPole-v1", str(tmp_path))
    assert child.finish() == 0
    assert capsys.readouterr().out.split() == ["1", "3"]
