"""Keeps library noise that no setting silences out of what `vrl` prints.

TensorFlow's CUDA plugin registration logs three error-level lines from C++
at import on every machine ("Unable to register cuDNN factory ..."), even
with no GPU; `TF_CPP_MIN_LOG_LEVEL=3` would hide them but also every real
C++ error. `filter_native_stderr` routes file descriptor 2 through a pipe that
drops only lines matching `NATIVE_NOISE`; Python's own `sys.stderr` writes
straight to the terminal, so nothing `vrl` itself prints is delayed or lost.
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
    sys.stderr = io.TextIOWrapper(
        os.fdopen(os.dup(real), "wb", buffering=0), line_buffering=True, errors="backslashreplace"
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
