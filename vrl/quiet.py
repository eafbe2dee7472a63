"""Keeps library noise that no setting silences out of what `vrl` prints.

TensorFlow's CUDA plugin registration logs three error-level lines from C++
at import on every machine ("Unable to register cuDNN factory ..."), even
with no GPU; `TF_CPP_MIN_LOG_LEVEL=3` would hide them but also every real
C++ error; gym prints a notice from Python at import. `filter_native_stderr` routes file descriptor 2 through a pipe that
drops only lines matching `NATIVE_NOISE`; Python's own `sys.stderr` writes
straight to the terminal (dropping only `PYTHON_NOISE` lines), so nothing
`vrl` itself prints is delayed or lost.
"""

from __future__ import annotations

import atexit
import io
import os
import sys
import threading

NATIVE_NOISE = (
    b"Unable to register cuFFT factory",
    b"Unable to register cuDNN factory",
    b"Unable to register cuBLAS factory",
    b"TF-TRT Warning: Could not find TensorRT",
    b"could not open file to read NUMA node",
    b"This TensorFlow binary is optimized to use available CPU instructions",
    b"To enable the following instructions",
)

# Printed by Python code straight to sys.stderr (gym 0.23, which TF-Agents
# imports, prints its unmaintained-package notice at import).
PYTHON_NOISE = (
    "Gym has been unmaintained since 2022",
    "Please upgrade to Gymnasium, the maintained drop-in replacement of Gym",
    "See the migration guide at https://gymnasium.farama.org/introduction/migration_guide/",
)


class _LineFilter(io.TextIOBase):
    """A text stream that drops whole lines containing any of `patterns`."""

    def __init__(self, stream: io.TextIOBase, patterns: tuple[str, ...]) -> None:
        self._stream = stream
        self._patterns = patterns
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        kept = [line for line in lines if not any(p in line for p in self._patterns)]
        if kept:
            self._stream.write("\n".join(kept) + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending and not any(p in self._pending for p in self._patterns):
            self._stream.write(self._pending)
            self._pending = ""
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()


def _pump(read_fd: int, out_fd: int) -> None:
    with os.fdopen(read_fd, "rb", buffering=0) as src:
        pending = b""
        while chunk := src.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not any(p in line for p in NATIVE_NOISE):
                    os.write(out_fd, line + b"\n")
        if pending and not any(p in pending for p in NATIVE_NOISE):
            os.write(out_fd, pending)


def filter_native_stderr() -> None:
    """Filters fd 2 for the rest of the process (no-op if stderr is not a real fd)."""
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError, io.UnsupportedOperation):
        return
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stderr = _LineFilter(
        io.TextIOWrapper(
            os.fdopen(os.dup(real), "wb", buffering=0),
            line_buffering=True,
            errors="backslashreplace",
        ),
        PYTHON_NOISE,
    )
    thread = threading.Thread(target=_pump, args=(read_fd, real), daemon=True, name="stderr-filter")
    thread.start()

    def restore() -> None:
        try:
            sys.stderr.flush()
        except ValueError:
            pass
        os.dup2(real, 2)  # closes the pipe's last write end: the pump drains and stops
        thread.join(timeout=2.0)

    atexit.register(restore)
