"""Ingest report: reconciliation and the bad-fraction gate."""

from __future__ import annotations

import pytest

from components.image_example_gen import report


def _bad(n):
    return [
        report.quarantine_record(f"cls/f{i}.png", "truncated", "load: short", "cls", "*/*")
        for i in range(n)
    ]


def test_report_counts_per_split_class_and_reason():
    bad = _bad(2) + [report.quarantine_record("x#1", "bad_record", "no image", None, "*.tfrecord")]
    rep = report.build_report(
        {"*/*": 10, "*.tfrecord": 3},
        {"train": {"a": 5, "b": 2}, "eval": {"a": 2, "b": 1}},
        bad,
    )
    assert rep["files_seen"] == 13
    assert rep["examples_written"] == 10
    assert rep["quarantined"] == 3
    assert rep["reconciled"]
    assert rep["examples_per_split"] == {"eval": 3, "train": 7}
    assert rep["examples_per_class"] == {"a": 7, "b": 3}
    assert rep["quarantined_per_reason"] == {"bad_record": 1, "truncated": 2}
    assert rep["quarantined_per_class"] == {"<unknown>": 1, "cls": 2}
    assert rep["bad_fraction"] == pytest.approx(3 / 13)
    report.check_reconciled(rep)


def test_counts_that_do_not_reconcile_raise():
    rep = report.build_report({"*/*": 10}, {"train": {"a": 8}}, _bad(1))
    with pytest.raises(report.ReconciliationError, match="10 inputs seen, 8 examples"):
        report.check_reconciled(rep)


def test_bad_fraction_above_limit_names_five_files_and_reasons():
    bad = _bad(7)
    rep = report.build_report({"*/*": 20}, {"train": {"cls": 13}}, bad)
    with pytest.raises(report.TooManyBadFilesError) as err:
        report.check_bad_fraction(rep, bad, 0.1, "q/quarantine.jsonl")
    message = str(err.value)
    assert "7 of 20" in message and "max_bad_fraction=10.0%" in message
    assert sum(f"cls/f{i}.png (truncated" in message for i in range(7)) == 5
    assert "q/quarantine.jsonl" in message


def test_bad_fraction_at_or_below_limit_passes_and_nothing_seen_fails():
    bad = _bad(1)
    report.check_bad_fraction(
        report.build_report({"p": 20}, {"train": {"c": 19}}, bad), bad, 0.05, "q"
    )
    with pytest.raises(report.TooManyBadFilesError, match="no input files"):
        report.check_bad_fraction(report.build_report({}, {}, []), [], 0.05, "q")
