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

Beam also compresses every pickle with bz2 at level 9 and decompresses it for
every bundle that uses it, so that the pipeline's protos stay small on their way
to a remote service (`dill_pickler.dumps`). In the demo's image pipeline that is
2,572 compressions and 3,235 decompressions of pickles of about 1 KB, 0.85 s:
bz2 sets up a 900 KB block per call, whatever the size. `store_pickles_uncompressed`
has the local runner keep new pickles as they are; pickles compressed before
(with bz2, whose data always starts with "BZh"; a pickle starts with its
protocol byte, 0x80) still load.
"""

from __future__ import annotations

import bz2
import logging

from vrl.beam_version import is_patched_beam

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


class _Stored:
    """The `bz2` that Beam's dill pickler calls: stores, and still reads bz2 data."""

    @staticmethod
    def compress(data: bytes, compresslevel: int = 9) -> bytes:
        return data

    @staticmethod
    def decompress(data: bytes) -> bytes:
        return bz2.decompress(data) if data[:3] == b"BZh" else data


def store_pickles_uncompressed() -> bool:
    """Has Beam's dill pickler store pickles uncompressed (once); True when Beam is
    the known version."""
    if not is_patched_beam():
        return False
    from apache_beam.internal import dill_pickler

    if dill_pickler.bz2 not in (bz2, _Stored):  # replaced by someone else: leave it
        return False
    dill_pickler.bz2 = _Stored
    return True
