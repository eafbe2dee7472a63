"""The one Apache Beam version whose internals vrl's local-runner patches know.

`vrl.beam_signatures`, `vrl.beam_options` and `vrl.beam_pickler` each replace a
Beam internal on the local runner; each installs only when `is_patched_beam()`
(a newer Beam may have changed or fixed what they replace).
"""

from __future__ import annotations

PATCHED_BEAM_VERSION = "2.59.0"


def is_patched_beam() -> bool:
    """Whether Apache Beam is installed at `PATCHED_BEAM_VERSION`."""
    try:
        import apache_beam
    except ImportError:
        return False
    return apache_beam.__version__ == PATCHED_BEAM_VERSION
