"""Beam's own pickler after `skip_unchanged_dill_levels`: same pickles, same dill
levels, and no more clearing of every logger's level cache per pickle."""

import logging

import apache_beam as beam
import pytest
from apache_beam.internal import pickler

from vrl.beam_pickler import skip_unchanged_dill_levels


class _Double(beam.DoFn):
    def process(self, element):
        yield 2 * element


@pytest.fixture
def patched(monkeypatch):
    from dill import _dill

    monkeypatch.setattr(_dill, "_trace", _dill._trace)  # put back after the test
    assert skip_unchanged_dill_levels()
    assert skip_unchanged_dill_levels()  # a second call changes nothing
    return _dill


def test_pickles_round_trip_without_clearing_logger_caches(patched, monkeypatch):
    cleared = []
    original = logging.Manager._clear_cache
    monkeypatch.setattr(
        logging.Manager, "_clear_cache", lambda self: (cleared.append(1), original(self))
    )
    for n in range(20):
        fn = pickler.loads(pickler.dumps(_Double()))
        assert list(fn.process(n)) == [2 * n]
    assert cleared == []
    assert logging.getLogger("dill").level == logging.WARN


def test_tracing_still_turns_on_and_off(patched):
    dill_log = logging.getLogger("dill")
    patched._trace(True)
    assert dill_log.level == logging.INFO
    patched._trace(False)
    assert dill_log.level == logging.WARN
