"""vrl.quiet: native stderr noise dropped, everything else kept, nothing lost at exit."""

import subprocess
import sys

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
