"""A warm interpreter that runs `python -m MODULE ARGS` commands in forked children.

Every TFX task's pod starts Python and imports TensorFlow and TFX before its
executor does any work: about 8 s of CPU per task, most of a small test
pipeline's time. kfp_local can hand each task to this server instead: it
imports the modules the package's executors need once, then forks one child
per task. The child is a process of its own, as a pod is: it gets the task's
environment, its stdout and stderr go to the task's log, its stdin is empty,
and it runs the command's module as `python -m` does (runpy, as `__main__`,
with the same argv); its exit status is the task's. Only the interpreter's
start and those imports are shared.

Requests are JSON lines on stdin: {"argv": [...], "env": {...}, "log": path};
each answer is {"returncode": N, "cpu_seconds": S} on stdout once the child
has exited (S: the child's user and system time).
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import runpy
import subprocess
import sys
import traceback


def module_of(argv: list[str]) -> str | None:
    """MODULE of a `python -m MODULE ...` command, None for any other command."""
    if len(argv) >= 3 and os.path.basename(argv[0]).startswith("python") and argv[1] == "-m":
        return argv[2]
    return None


def preload(modules: list[str]) -> None:
    """Imports `modules` (dotted names); nothing else runs before the first fork."""
    for name in modules:
        importlib.import_module(name)


def _child(request: dict) -> None:
    """In the forked child: the task's stdio and environment, then its module as __main__."""
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.clear()
    os.environ.update(request["env"])
    argv = request["argv"]
    sys.argv = [argv[2], *argv[3:]]
    code = 0
    try:
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - the task failed: its traceback is its log, as in a pod
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()  # noqa: SLF001 - what a normal exit runs (logging's flush...)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # never back into the server's loop


def serve(stdin=sys.stdin, stdout=sys.stdout) -> None:
    """Answers requests until stdin closes; one child at a time."""
    while line := stdin.readline():
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status, usage = os.wait4(pid, 0)
        answer = {
            "returncode": os.waitstatus_to_exitcode(status),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        }
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


class ForkServer:
    """The client side: starts the server with `python` from `env`'s PATH (as the
    spec's commands find it) and sends it one command at a time."""

    def __init__(self, env: dict, modules: list[str], log: str) -> None:
        self.log = log
        with open(log, "w") as err:
            self.proc = subprocess.Popen(
                ["python", "-m", "kubeflow.forkserver", *modules],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )

    def run(self, argv: list[str], env: dict, log: str) -> dict:
        """Runs `python -m MODULE ARGS` in a forked child; returns the server's answer."""
        if module_of(argv) is None:
            raise ValueError(f"the fork server runs `python -m MODULE` commands, not {argv[:3]}")
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "log": log}) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            with open(self.log) as f:
                tail = f.read()[-3000:]
            raise RuntimeError(f"the fork server exited ({self.proc.wait()}) at {argv[2]}: {tail}")
        return json.loads(answer)

    def close(self) -> None:
        """Ends the server (its stdin closes; it exits when its child has)."""
        self.proc.stdin.close()
        self.proc.wait()


if __name__ == "__main__":
    preload(sys.argv[1:])
    serve()
