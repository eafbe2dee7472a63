"""Beam's own pickler after `skip_unchanged_dill_levels`: same pickles, same dill
levels, and no more clearing of every logger's level cache per pickle; after
`store_pickles_uncompressed`: pickles stored as they are, bz2 ones still read."""

import base64
import bz2
import logging

import apache_beam as beam
import pytest
from apache_beam.internal import pickler
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from vrl.beam_pickler import skip_unchanged_dill_levels, store_pickles_uncompressed


class _Double(beam.DoFn):
    def process(self, element):
        yield 2 * element


def _installed(monkeypatch, module, name, install):
    """`module` after `install()`, its `name` put back after the test."""
    monkeypatch.setattr(module, name, getattr(module, name))
    assert install()
    assert install()  # a second call changes nothing
    return module


@pytest.fixture
def patched(monkeypatch):
    from dill import _dill

    return _installed(monkeypatch, _dill, "_trace", skip_unchanged_dill_levels)


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


@pytest.fixture
def stored(monkeypatch):
    from apache_beam.internal import dill_pickler

    return _installed(monkeypatch, dill_pickler, "bz2", store_pickles_uncompressed)


def test_pickles_are_stored_uncompressed_and_bz2_pickles_still_load(monkeypatch):
    from apache_beam.internal import dill_pickler

    monkeypatch.setattr(dill_pickler, "bz2", bz2)  # Beam's own, whatever ran before
    fn = _Double()
    compressed = pickler.dumps(fn)  # Beam's own: bz2
    assert base64.b64decode(compressed)[:3] == b"BZh"
    assert store_pickles_uncompressed()
    stored = pickler.dumps(fn)
    raw = base64.b64decode(stored)
    assert raw[:1] == b"\x80"  # the pickle itself, protocol byte first
    for payload in (stored, compressed):
        assert list(pickler.loads(payload).process(3)) == [6]


def test_other_beam_versions_keep_their_compression(monkeypatch):
    from apache_beam.internal import dill_pickler

    monkeypatch.setattr(dill_pickler, "bz2", bz2)  # Beam's own, whatever ran before
    monkeypatch.setattr(beam, "__version__", "2.60.0")
    assert not store_pickles_uncompressed()
    assert base64.b64decode(pickler.dumps(_Double()))[:3] == b"BZh"


def test_a_pipeline_runs_on_uncompressed_pickles(stored):
    with TestPipeline() as p:
        assert_that(p | beam.Create([1, 2]) | beam.ParDo(_Double()), equal_to([2, 4]))
