"""kubeflow.forkserver runs a `python -m MODULE` command in a forked child as a
fresh process would: the task's argv, environment, empty stdin, log and exit status."""

from __future__ import annotations

import json
import os

import pytest

from kubeflow.forkserver import ForkServer, module_of

PROBE = """
import json, os, sys
with open(sys.argv[1], "w") as f:
    json.dump({"argv": sys.argv, "x": os.environ.get("X"), "stdin": sys.stdin.read(),
               "name": __name__, "preloaded": "calendar" in sys.modules}, f)
print("probe ran")
sys.exit(int(sys.argv[2]))
"""


@pytest.fixture
def server(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    (tmp_path / "boom.py").write_text("raise ValueError('boom in the task')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env["PATH"] = os.path.dirname(os.sys.executable) + os.pathsep + env.get("PATH", "")
    fork_server = ForkServer(env, ["calendar"], str(tmp_path / "server.log"))
    yield fork_server, env
    fork_server.close()


def test_a_task_gets_its_argv_env_log_and_exit_status(tmp_path, server):
    fork_server, env = server
    out, log = tmp_path / "out.json", tmp_path / "task.log"
    argv = ["python", "-m", "probe", str(out), "3"]
    answer = fork_server.run(argv, {**env, "X": "task-1"}, str(log))
    assert answer["returncode"] == 3 and answer["cpu_seconds"] >= 0
    seen = json.loads(out.read_text())
    assert seen == {
        "argv": [os.path.join(str(tmp_path), "probe.py"), str(out), "3"],
        "x": "task-1",
        "stdin": "",
        "name": "__main__",
        "preloaded": True,
    }
    assert log.read_text() == "probe ran\n"
    # The next task sees its own environment, not the last one's.
    assert (
        fork_server.run(["python", "-m", "probe", str(out), "0"], env, str(log))["returncode"] == 0
    )
    assert json.loads(out.read_text())["x"] is None


def test_a_failing_task_exits_1_with_its_traceback_and_the_server_goes_on(tmp_path, server):
    fork_server, env = server
    log = tmp_path / "task.log"
    assert fork_server.run(["python", "-m", "boom"], env, str(log))["returncode"] == 1
    assert "ValueError: boom in the task" in log.read_text()
    assert (
        fork_server.run(["python", "-m", "probe", str(tmp_path / "o"), "0"], env, str(log))[
            "returncode"
        ]
        == 0
    )


def test_only_python_module_commands_are_forked():
    assert module_of(["python", "-m", "kubeflow.executor", "--x"]) == "kubeflow.executor"
    assert module_of(["/usr/bin/python3", "-m", "m"]) == "m"
    assert module_of(["sh", "-c", "python -m m"]) is None
