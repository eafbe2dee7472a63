"""Issue 21's acceptance, items 5 and 6: every case ends in one line on stderr and the
exit code the docs give (2: bad input or configuration; 1: a blessed model that was not
pushed), through `vrl`'s own entry point, before any pipeline runs.

Covered elsewhere, as named in the table's notes: `vrl submit` with the host down
(tests/kubeflow/test_submit.py::test_unreachable_host_is_one_line) and the REST fuzz
case, a lone surrogate in an input key, answered 400
(tests/serving/test_tfs_gaps.py::test_lone_surrogate_in_a_rest_body_is_400)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from components.atomic_pusher import ops
from vrl import cli, local


@pytest.fixture
def work(tmp_path, monkeypatch):
    """Two class folders, a Latin-1 manifest, a garbage schema, a served model base;
    the current folder is `tmp_path` (where an accepted empty --home would write)."""
    for name in ("cats", "dogs"):
        (tmp_path / "data" / name).mkdir(parents=True)
        (tmp_path / "data" / name / "a.png").write_bytes(b"x")
    (tmp_path / "latin1").mkdir()
    manifest = "path,label\nimg/a.png,dog\nimg/b.png,caf\xe9\n".encode("latin-1")
    (tmp_path / "latin1" / "manifest.csv").write_bytes(manifest)
    (tmp_path / "garbage.pbtxt").write_bytes(b"feature {{ name: \x00\xff")
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(1 << 20))
    (tmp_path / "served" / "m" / "1").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _disk_full_at_push(work, monkeypatch):
    """`vrl run rl` runs its checks and then, where LocalDagRunner would run the
    pipeline, the Pusher's atomic push to a disk with 64 KiB free: the error travels
    as from the Pusher (LocalDagRunner re-raises an executor's error unchanged; the
    real run, on a 16 KiB tmpfs, is quoted in docs/limits.md)."""
    monkeypatch.setattr(ops, "free_bytes", lambda path: 64 << 10)
    base = str(work / "home" / "serving" / "dqn_cartpole_v1")

    def push(root, build, kind):
        ops.atomic_push(str(work / "model"), base)

    monkeypatch.setattr(local, "_run_locked", push)


CI = ["--out", "s.yaml", "--pipeline-root", "gs://b/r", "--image", "r.io/i@sha256:" + "0" * 64]
CASES = [
    # (issue item, argv, exit code, what the line names, set-up)
    ("5 disk full during push", ["run", "rl", "--home", "home", "--steps", "10"], 1,
     ["no space to write", "dqn_cartpole_v1/", "it needs 1.1 MB, 64 KB free"], _disk_full_at_push),
    ("5 garbage --schema", ["run", "image", "--data", "data", "--home", "home", "--schema",
     "garbage.pbtxt"], 2, ["schema_path", "garbage.pbtxt", "TFDV schema"], None),
    ("5 serve --rest-port -1", ["serve", "--model-base", "served", "--rest-port", "-1"], 2,
     ["--rest-port -1", "between 0 and 65535"], None),
    ("6 serve --grpc-port 70000", ["serve", "--model-base", "served", "--grpc-port", "70000"],
     2, ["--grpc-port 70000", "between 0 and 65535"], None),
    ("6 serve --port 70000", ["serve", "--model_base_path", "served/m", "--port=70000"], 2,
     ["--port 70000"], None),
    ("6 compile rl --env Foo-v0", ["compile", "rl", *CI, "--serving-base", "gs://b/m", "--env",
     "Foo-v0"], 2, ["env_id 'Foo-v0'", "unknown gymnasium environment id"], None),
    ("6 --home ''", ["status", "--home", ""], 2, ["--home", "empty"], None),
    ("6 Latin-1 CSV manifest", ["run", "image", "--data", "latin1", "--home", "home"], 2,
     ["manifest.csv:3", "not UTF-8", "0xe9"], None),
]  # fmt: skip


@pytest.mark.parametrize("item, argv, code, names, setup", CASES, ids=[c[0] for c in CASES])
def test_each_case_ends_in_one_line_and_its_documented_exit_code(
    work, capsys, monkeypatch, item, argv, code, names, setup
):
    if setup is not None:
        setup(work, monkeypatch)
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: " in err, err
    for name in names:
        assert name in err, (item, name, err)
    if code == 2:
        assert not (work / "home").exists()  # refused before any work
        assert not (work / "tfx").exists() and not (work / "s.yaml").exists()
    else:
        assert os.listdir(work / "home" / "serving" / "dqn_cartpole_v1") == []  # no half version


@pytest.mark.parametrize("item", ["6 Latin-1 CSV manifest", "6 serve --grpc-port 70000"])
def test_a_real_vrl_process_prints_nothing_but_that_line(work, item):
    """As a shell runs it: `python -m vrl` with its stderr filter, no library noise."""
    (argv, code, names) = next(c[1:4] for c in CASES if c[0] == item)
    # The checkout under test first (a worktree shadows the editable install).
    root = os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    )
    done = subprocess.run(
        [sys.executable, "-m", "vrl", *argv], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == code, done.stderr
    assert done.stderr.count("\n") == 1 and names[0] in done.stderr, done.stderr
    assert done.stdout == ""
