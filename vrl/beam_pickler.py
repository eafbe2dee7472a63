"""Beam's pickler without dill 0.3.1.1's cost per pickle on the local runner.

Apache Beam 2.59 pins dill 0.3.1.1 and calls `dill.dill._trace(False)` after
every pickle and unpickle it makes (`apache_beam/internal/dill_pickler.py`).
That `_trace` calls `logging.getLogger("dill").setLevel(...)`, and every
`Logger.setLevel` clears the level cache of every logger in the process: in
an image pipeline run, 6,073 calls over about 1,040 loggers, 0.35 s of a
fast hour's run and 0.9 s of a slow one's, all on the critical path. The
level it sets is almost always the level the logger already has.

`skip_unchanged_dill_levels` replaces dill's `_trace` with one that sets the
same levels, INFO for True and WARN for False, but only when the level
changes; Beam's retry with tracing on after a failed pickle still turns the
trace on and off. It touches only the dill version whose `_trace` it knows.
"""

from __future__ import annotations

import logging

PATCHED_DILL_VERSION = "0.3.1.1"


def skip_unchanged_dill_levels() -> bool:
    """Installs the replacement `_trace` (once); True when dill is the known version."""
    try:
        import dill
        from dill import _dill
    except ImportError:
        return False
    if dill.__version__ != PATCHED_DILL_VERSION or not hasattr(_dill, "_trace"):
        return False
    if getattr(_dill._trace, "skips_unchanged_levels", False):
        return True
    log = _dill.log

    def _trace(boolean: bool) -> None:
        level = logging.INFO if boolean else logging.WARN
        if log.level != level:
            log.setLevel(level)

    _trace.skips_unchanged_levels = True  # type: ignore[attr-defined]
    _dill._trace = _trace
    return True
