"""One run per pipeline root: a second run is refused naming the holder, a
killed run's lock and RUNNING executions are cleared by the next run."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from vrl import cli, runner

# A child that takes the lock (and optionally leaves a RUNNING execution in
# ML Metadata, as a run killed mid-component does), says so, then waits to be killed.
_CHILD = """
import sys, time
from vrl import runner
root, with_execution = sys.argv[1], sys.argv[2] == "1"
with runner.pipeline_lock(root):
    if with_execution:
        import ml_metadata as mlmd
        from ml_metadata.proto import metadata_store_pb2 as pb
        cfg = pb.ConnectionConfig()
        cfg.sqlite.filename_uri = runner.metadata_path(root)
        cfg.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        store = mlmd.MetadataStore(cfg)
        type_id = store.put_execution_type(pb.ExecutionType(name="tfx.Trainer"))
        store.put_executions([
            pb.Execution(type_id=type_id, last_known_state=pb.Execution.COMPLETE),
            pb.Execution(type_id=type_id, last_known_state=pb.Execution.RUNNING),
        ])
    print("locked", flush=True)
    time.sleep(60)
"""


def _start_holder(root, with_execution=False):
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), "1" if with_execution else "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "locked"
    return child


def _kill(child):
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _data(tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / "data" / name).mkdir(parents=True)
        (tmp_path / "data" / name / "a.png").write_bytes(b"x")
    return str(tmp_path / "data")


def test_second_run_is_refused_naming_the_first_runs_pid(tmp_path, capsys, monkeypatch):
    import vrl.local

    monkeypatch.setattr(vrl.local, "run_local", lambda p: pytest.fail("second run ran"))
    home = tmp_path / "home"
    root = home / "tfx" / "image-classifier"
    root.mkdir(parents=True)
    child = _start_holder(root)
    try:
        code = cli.main(["run", "image", "--data", _data(tmp_path), "--home", str(home)])
    finally:
        _kill(child)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"pid {child.pid}" in err and "in use by another run" in err
    assert socket.gethostname() in err
    assert sorted(os.listdir(root)) == [runner.LOCK_FILE]


def test_second_rl_run_is_refused_too(tmp_path, capsys):
    root = tmp_path / "tfx" / "vrl-rl-cartpole-v1"
    root.mkdir(parents=True)
    with runner.pipeline_lock(str(root)):
        code = cli.main(["run", "rl", "--home", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and f"pid {os.getpid()}" in err and err.count("\n") == 1


def test_lock_of_a_killed_run_is_taken_over(tmp_path):
    child = _start_holder(tmp_path)
    with pytest.raises(runner.PipelineBusy, match=f"pid {child.pid} "):
        with runner.pipeline_lock(str(tmp_path)):
            pass
    _kill(child)
    with runner.pipeline_lock(str(tmp_path)) as stale:
        assert stale["pid"] == child.pid
        with open(tmp_path / runner.LOCK_FILE) as f:
            assert json.load(f)["pid"] == os.getpid()
    assert not (tmp_path / runner.LOCK_FILE).exists()


def test_stale_lock_file_with_a_dead_pid_on_this_host_is_taken_over(tmp_path):
    dead = {"pid": _dead_pid(), "host": socket.gethostname(), "started": "earlier"}
    (tmp_path / runner.LOCK_FILE).write_text(json.dumps(dead))
    with runner.pipeline_lock(str(tmp_path)) as stale:
        assert stale == dead


def test_without_flock_the_recorded_owner_decides(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "_flock", lambda fd: None)
    lock = tmp_path / runner.LOCK_FILE
    host = socket.gethostname()
    lock.write_text(json.dumps({"pid": os.getpid(), "host": host}))
    with pytest.raises(runner.PipelineBusy, match=f"pid {os.getpid()} on host {host}"):
        with runner.pipeline_lock(str(tmp_path)):
            pass
    lock.write_text(json.dumps({"pid": _dead_pid(), "host": host}))
    with runner.pipeline_lock(str(tmp_path)) as stale:
        assert stale["host"] == host


def test_killed_runs_running_execution_is_marked_failed_at_the_next_start(tmp_path, caplog):
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2 as pb

    _kill(_start_holder(tmp_path, with_execution=True))
    start = time.time()
    with caplog.at_level(logging.WARNING), runner.exclusive_run(str(tmp_path)):
        cfg = pb.ConnectionConfig()
        cfg.sqlite.filename_uri = runner.metadata_path(str(tmp_path))
        states = {e.id: e for e in mlmd.MetadataStore(cfg).get_executions()}
    assert time.time() - start < 10
    assert states[1].last_known_state == pb.Execution.COMPLETE
    assert states[2].last_known_state == pb.Execution.FAILED
    assert "marked FAILED" in states[2].custom_properties["vrl_failure"].string_value
    assert "Trainer #2" in caplog.text and "took over the lock" in caplog.text
    assert runner.fail_stale_executions(str(tmp_path)) == []
