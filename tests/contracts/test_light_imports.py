"""The contracts floor imports without TensorFlow, so every floor may use it cheaply."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import contracts


def test_every_contract_module_imports_without_loading_tensorflow():
    names = [f"contracts.{m.name}" for m in pkgutil.iter_modules(contracts.__path__)]
    assert "contracts.warmup" in names and "contracts.serving_base" in names
    code = (
        "import sys\n"
        + "".join(f"import {n}\n" for n in names)
        + "heavy = [m for m in ('tensorflow', 'tfx', 'tf_keras') if m in sys.modules]\n"
        + "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing contracts loaded {out.stdout.strip()}"
