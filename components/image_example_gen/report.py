"""Ingest report of ImageExampleGen: reconcile counts and enforce the bad-file limit."""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from typing import Any

UNKNOWN_CLASS = "<unknown>"
MAX_NAMED_BAD_FILES = 5


class TooManyBadFilesError(ValueError):
    """More inputs were quarantined than max_bad_fraction allows."""


class ReconciliationError(RuntimeError):
    """Seen inputs != examples written + quarantined (a bug, never expected)."""


def quarantine_record(
    path: str, reason: str, detail: str, label_name: str | None, input_pattern: str
) -> dict[str, Any]:
    """One line of quarantine.jsonl."""
    return {
        "path": path,
        "reason": reason,
        "detail": detail,
        "label_name": label_name,
        "input_pattern": input_pattern,
    }


def build_report(
    seen: Mapping[str, int],
    example_counts: Mapping[str, Mapping[str, int]],
    quarantined: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Counts per input pattern, output split, class and reason.

    Args:
      seen: input pattern -> inputs seen (files; records for TFRecord input).
      example_counts: output split -> label name -> examples written.
      quarantined: quarantine records.
    """
    n_seen = sum(seen.values())
    per_split = {split: sum(c.values()) for split, c in sorted(example_counts.items())}
    n_examples = sum(per_split.values())
    per_class: collections.Counter[str] = collections.Counter()
    for counts in example_counts.values():
        per_class.update(counts)
    reasons = collections.Counter(r["reason"] for r in quarantined)
    bad_classes = collections.Counter(r.get("label_name") or UNKNOWN_CLASS for r in quarantined)
    return {
        "files_seen": n_seen,
        "examples_written": n_examples,
        "quarantined": len(quarantined),
        "reconciled": n_seen == n_examples + len(quarantined),
        "bad_fraction": len(quarantined) / n_seen if n_seen else 0.0,
        "seen_per_input_pattern": dict(sorted(seen.items())),
        "examples_per_split": per_split,
        "examples_per_class": dict(sorted(per_class.items())),
        "examples_per_split_class": {
            split: dict(sorted(c.items())) for split, c in sorted(example_counts.items())
        },
        "quarantined_per_reason": dict(sorted(reasons.items())),
        "quarantined_per_class": dict(sorted(bad_classes.items())),
    }


def check_reconciled(report: Mapping[str, Any], listed: int | None = None) -> None:
    """Raises ReconciliationError unless seen == written + quarantined, and the
    example listing (`listed` lines, when given) has one line per example written."""
    if not report["reconciled"]:
        raise ReconciliationError(
            f"ImageExampleGen counts do not reconcile: {report['files_seen']} inputs seen, "
            f"{report['examples_written']} examples written + {report['quarantined']} "
            "quarantined. This is a bug; please report it with the ingest report."
        )
    if listed is not None and listed != report["examples_written"]:
        raise ReconciliationError(
            f"ImageExampleGen's example listing has {listed} lines for "
            f"{report['examples_written']} examples written. This is a bug; please report it."
        )


def over_limit(report: Mapping[str, Any], max_bad_fraction: float) -> bool:
    """True when the quarantined share is above max_bad_fraction."""
    return report["files_seen"] > 0 and report["bad_fraction"] > max_bad_fraction


def check_bad_fraction(
    report: Mapping[str, Any],
    quarantined: Sequence[Mapping[str, Any]],
    max_bad_fraction: float,
    report_location: str,
) -> None:
    """Raises TooManyBadFilesError naming up to 5 bad inputs when over the limit."""
    if report["files_seen"] == 0:
        raise TooManyBadFilesError("ImageExampleGen found no input files; check input_config")
    if not over_limit(report, max_bad_fraction):
        return
    named = "; ".join(
        f"{r['path']} ({r['reason']}: {r['detail']})"
        for r in sorted(quarantined, key=lambda r: r["path"])[:MAX_NAMED_BAD_FILES]
    )
    raise TooManyBadFilesError(
        f"ImageExampleGen quarantined {report['quarantined']} of {report['files_seen']} inputs "
        f"({report['bad_fraction']:.1%}), above max_bad_fraction={max_bad_fraction:.1%}. "
        f"By reason: {report['quarantined_per_reason']}. Examples: {named}. "
        f"Full list: {report_location}. Fix or remove these files, or raise max_bad_fraction."
    )
