"""Keeps library noise that no setting silences out of what `vrl` prints.

TensorFlow's CUDA plugin registration logs three error-level lines from C++
at import on every machine ("Unable to register cuDNN factory ..."), even
with no GPU; `TF_CPP_MIN_LOG_LEVEL=3` would hide them but also every real
C++ error; gym prints a notice from Python at import. `filter_native_stderr` routes file
descriptor 2 through a pipe that drops only lines matching `NATIVE_NOISE`;
Python's own `sys.stderr` writes straight to the terminal (dropping only
`PYTHON_NOISE` lines), so nothing `vrl` itself prints is delayed or lost.
`filter_warnings` ignores the Python warnings in `WARNING_NOISE`, each by
category, message and module. `quiet_entry_point` does all of it; every
`python -m vrl.*` entry that prints calls it first, as the `vrl` script does.
"""

from __future__ import annotations

import atexit
import io
import os
import sys
import threading
import warnings

NATIVE_NOISE = (
    b"Unable to register cuFFT factory",
    b"Unable to register cuDNN factory",
    b"Unable to register cuBLAS factory",
    b"TF-TRT Warning: Could not find TensorRT",
    b"could not open file to read NUMA node",
    b"This TensorFlow binary is optimized to use available CPU instructions",
    b"To enable the following instructions",
    # An error-level line on every CPU without AVX-512 when a uint8 op runs (Transform's
    # pixels); TensorFlow falls back to Eigen and nothing is wrong.
    b"oneDNN supports DT_UINT8 only on platforms with AVX-512",
)

# Printed by Python code straight to sys.stderr (gym 0.23, which TF-Agents
# imports, prints its unmaintained-package notice at import).
PYTHON_NOISE = (
    "Gym has been unmaintained since 2022",
    "Please upgrade to Gymnasium, the maintained drop-in replacement of Gym",
    "See the migration guide at https://gymnasium.farama.org/introduction/migration_guide/",
)


# (category, message regex, module regex) for warnings.filterwarnings; each one
# is a warning nobody running `vrl` can act on.
WARNING_NOISE = (
    # google-api-core warns on every import that Python 3.10 is past its support
    # window; TFX 1.16 requires 3.10.
    (FutureWarning, "", "google"),
    # TF-Agents' `safe_has_state` (tf_agents/utils/common.py) compares with
    # `is not ()` on purpose and silences the SyntaxWarning for its own module, but
    # autograph recompiles the function into a temporary module named
    # __autograph_generated_file<random> when a tf.function that calls it is first
    # traced (the DQN trainer's), and there the warning is printed again.
    (SyntaxWarning, '"is not" with a literal', r".*__autograph_generated_file\w*\Z"),
)


def filter_warnings() -> None:
    """Ignores the `WARNING_NOISE` warnings for the rest of the process."""
    for category, message, module in WARNING_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def quiet_entry_point(filter_stderr: bool) -> None:
    """What a `vrl` entry point runs before TensorFlow is imported: TensorFlow's C++
    log level (INFO and WARNING lines off, errors kept), the warning filters, and, in a real
    `vrl` process (`filter_stderr`; not in a caller such as a test), the stderr filter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    filter_warnings()
    if filter_stderr:
        filter_native_stderr()


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
