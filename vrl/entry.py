"""The process set-up every `vrl` entry point shares (`vrl`, `python -m vrl`,
`python -m vrl.serve`): Keras 2, quiet stderr, one-line errors, exit codes."""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
import time
from collections.abc import Callable

TIMED_COMMANDS = ("run", "demo")
"""Commands whose wall time is printed when they finish."""


def main(build_parser: Callable[[], argparse.ArgumentParser], argv: list[str] | None) -> int:
    """Parses `argv` with the parser `build_parser` makes and runs the chosen command;
    a bad value (ValueError) or a missing file (OSError) is one line and exit 2 (or
    the error's own `exit_code`, as `PushSpaceError`'s 1). A real `vrl` process
    (`argv` None) then ends at once (`exit_without_teardown`)."""
    code = _run(build_parser, argv)
    if argv is None:
        exit_without_teardown(code)
    return code


def _run(build_parser: Callable[[], argparse.ArgumentParser], argv: list[str] | None) -> int:
    from vrl.quiet import quiet_entry_point

    # tf-agents 0.19 on TF 2.16 needs Keras 2; must be set before TF is imported.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    # Before parsing: `--help` may import TensorFlow to show a default.
    # argv None: a real `vrl` process, not a caller in Python (e.g. tests).
    quiet_entry_point(filter_stderr=argv is None)
    args = build_parser().parse_args(argv)
    start = time.time()
    try:
        check_home(args)
        code = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as e:
        print(f"vrl: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)  # e.g. 1: disk full during a push
    if args.command in TIMED_COMMANDS:
        print(f"({time.time() - start:.0f} s)")
    return code


def exit_without_teardown(code: int) -> None:
    """Ends the process with `code` once the command's work is done, skipping the
    interpreter's teardown.

    After a pipeline run the heap holds about 800,000 Python objects and
    TensorFlow's graphs; freeing them one by one at exit (CPython's last garbage
    collection, then their C++ destructors) took 3.1 s after `vrl demo` had
    printed its last line, every time. Everything a normal exit does that
    matters still happens first: the exit handlers run (logging's flush, the
    stderr filter's drain) and stdout and stderr are flushed. Returns, for the
    normal exit, while a non-daemon thread still runs: Python would wait for it.
    """
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing left to flush
            pass
    os._exit(int(code or 0))


def check_home(args: argparse.Namespace) -> None:
    """Refuses an empty `--home` on every command that takes one: os.path.join("",
    "tfx") would quietly run, and read, in the current folder."""
    home = getattr(args, "home", None)
    if isinstance(home, str) and not home.strip():
        raise ValueError(f"--home {home!r}: empty; name a working folder (--home . for this one)")
