"""vrl.quiet: native stderr noise dropped, everything else kept, nothing lost at exit."""

import socket
import subprocess
import sys

import pytest

CODE = r"""
import os, sys
from vrl.quiet import filter_native_stderr
filter_native_stderr()
os.write(2, b"E cuda_dnn.cc:10575] Unable to register cuDNN factory: already registered\n")
os.write(2, b"E real native error\n")
print("python error line", file=sys.stderr)
print("Gym has been unmaintained since 2022 and does not support NumPy 2.0", file=sys.stderr)
os.write(2, b"last native line without newline")
"""


def test_native_noise_is_dropped_and_every_other_line_reaches_the_terminal():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert "Unable to register" not in out.stderr and "Gym has been" not in out.stderr
    assert "E real native error" in out.stderr
    assert "python error line" in out.stderr
    assert out.stderr.rstrip().endswith("last native line without newline")


def test_vrl_errors_still_reach_stderr_through_the_filter(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "vrl.cli", "run", "image", "--data", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("vrl: error:") and "nope" in out.stderr


# Imports TF-Agents and lets autograph convert its `safe_has_state` (`state is not ()`),
# as the DQN trainer's tf.function does; then compiles the same comparison in a module
# of its own, whose warning must still be printed.
AUTOGRAPH = r"""
import sys
if sys.argv[1] == "quiet":
    from vrl.quiet import quiet_entry_point
    quiet_entry_point(filter_stderr=True)
import tensorflow as tf
from tf_agents.utils import common
assert bool(tf.function(common.safe_has_state)(tf.constant(1.0)))
compile("x = 1\ny = x is not ()\n", "own_module.py", "exec")
"""


@pytest.mark.slow
def test_autograph_is_not_literal_warning_is_dropped_and_only_that_one():
    def stderr(mode: str) -> str:
        argv = [sys.executable, "-c", AUTOGRAPH, mode]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stderr

    loud, quiet = stderr("loud"), stderr("quiet")
    assert "__autograph_generated_file" in loud and "is not" in loud  # the noise is real
    assert "__autograph_generated_file" not in quiet
    assert 'own_module.py:2: SyntaxWarning: "is not" with a literal' in quiet


@pytest.mark.slow
def test_python_m_vrl_serve_filters_stderr_like_the_vrl_script():
    with socket.socket() as sock:  # a port nobody listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = ["act", "--model", "m", "--obs", "1,0", "--server", f"127.0.0.1:{port}"]
    argv += ["--timeout", "2"]  # the client imports TensorFlow, then fails to connect
    loud = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, check=True
    )
    assert "Unable to register" in loud.stderr  # what TensorFlow prints here unfiltered
    out = subprocess.run([sys.executable, "-m", "vrl.serve", *argv], capture_output=True, text=True)
    assert out.returncode == 1 and "error: UNAVAILABLE" in out.stderr
    assert "Unable to register" not in out.stderr, out.stderr
