"""The process set-up every `vrl` entry point shares (`vrl`, `python -m vrl`,
`python -m vrl.serve`): Keras 2, quiet stderr, one-line errors, exit codes."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

TIMED_COMMANDS = ("run", "demo")
"""Commands whose wall time is printed when they finish."""


def main(build_parser: Callable[[], argparse.ArgumentParser], argv: list[str] | None) -> int:
    """Parses `argv` with the parser `build_parser` makes and runs the chosen command;
    a bad value (ValueError) or a missing file (OSError) is one line and exit 2 (or
    the error's own `exit_code`, as `PushSpaceError`'s 1)."""
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


def check_home(args: argparse.Namespace) -> None:
    """Refuses an empty `--home` on every command that takes one: os.path.join("",
    "tfx") would quietly run, and read, in the current folder."""
    home = getattr(args, "home", None)
    if isinstance(home, str) and not home.strip():
        raise ValueError(f"--home {home!r}: empty; name a working folder (--home . for this one)")
