"""Image-level data checks that TFX's ExampleValidator does not make.

Pure functions over per-example summaries; no TFX, no Beam. Each finding is an
`Issue`; the executor turns them into TFMD Anomalies protos.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Mapping, Sequence

ERROR = "ERROR"
WARNING = "WARNING"
ALL_SPLITS = "all"  # the split name used for dataset-wide findings

# (split, sha256) -> (path, label_name) of each example of that image, from
# ImageExampleGen's example listing; findings name files from it when given.
Sources = Mapping[tuple[str, str], Sequence[tuple[str, str]]]


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """What the checks need to know about one example (no pixels)."""

    label_name: str
    height: int
    width: int
    channels: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Issue:
    """One finding: `kind` is a stable machine name, `feature` the tf.Example key."""

    kind: str
    feature: str
    severity: str
    split: str
    description: str


@dataclasses.dataclass(frozen=True)
class CheckConfig:
    """Thresholds of the image checks."""

    max_class_imbalance: float = 3.0
    """Largest over smallest class count within a split above which it is an error."""
    max_side_ratio: float = 16.0
    """Largest over smallest image side (across the split) above which it is a warning."""
    min_examples_per_class: int = 1
    """A class with fewer examples than this in a split is an error."""


def class_balance(split: str, records: Sequence[ImageRecord], cfg: CheckConfig) -> list[Issue]:
    """Flags imbalance between classes and classes below the minimum count.

    Call it on the whole dataset (split "all"): the eval split is a hash
    sample of it, so its own class ratios are mostly sampling noise.
    """
    counts = collections.Counter(r.label_name for r in records)
    issues: list[Issue] = []
    if not counts:
        return [
            Issue("empty_split", "label_name", ERROR, split, f"split {split!r} has no examples")
        ]
    small = sorted(n for n, c in counts.items() if c < cfg.min_examples_per_class)
    if small:
        issues.append(
            Issue(
                "too_few_examples",
                "label_name",
                ERROR,
                split,
                f"classes with fewer than {cfg.min_examples_per_class} examples: {small}",
            )
        )
    most, least = max(counts.values()), min(counts.values())
    if least and most / least > cfg.max_class_imbalance:
        big = max(counts, key=counts.get)
        tiny = min(counts, key=counts.get)
        issues.append(
            Issue(
                "class_imbalance",
                "label_name",
                ERROR,
                split,
                f"class {big!r} has {most} examples and {tiny!r} has {least} "
                f"(ratio {most / least:.1f} > {cfg.max_class_imbalance})",
            )
        )
    return issues


def missing_classes(splits: Mapping[str, Sequence[ImageRecord]]) -> list[Issue]:
    """Flags classes seen in some split but absent from another."""
    names = {s: {r.label_name for r in recs} for s, recs in splits.items()}
    every = set().union(*names.values()) if names else set()
    issues = []
    for split, present in sorted(names.items()):
        absent = sorted(every - present)
        if absent:
            issues.append(
                Issue(
                    "missing_class",
                    "label_name",
                    ERROR,
                    split,
                    f"split {split!r} has no examples of {absent}",
                )
            )
    return issues


def size_and_channel_spread(
    split: str, records: Sequence[ImageRecord], cfg: CheckConfig
) -> list[Issue]:
    """Warns when image sizes vary wildly or channel counts are mixed."""
    if not records:
        return []
    issues = []
    sides = [s for r in records for s in (r.height, r.width)]
    ratio = max(sides) / max(1, min(sides))
    if ratio > cfg.max_side_ratio:
        issues.append(
            Issue(
                "size_spread",
                "height",
                WARNING,
                split,
                f"image sides range from {min(sides)} to {max(sides)} px "
                f"(ratio {ratio:.1f} > {cfg.max_side_ratio})",
            )
        )
    channels = collections.Counter(r.channels for r in records)
    if len(channels) > 1:
        mix = ", ".join(f"{c} channel(s): {n}" for c, n in sorted(channels.items()))
        issues.append(
            Issue("channel_mix", "channels", WARNING, split, f"mixed channel counts ({mix})")
        )
    return issues


def _files(sources: Sources | None, split: str, sha256: str) -> Sequence[tuple[str, str]]:
    return sources.get((split, sha256), ()) if sources else ()


def _two_files(first: str, second: str, sha256: str) -> str:
    return f"{first} and {second}, sha256 {sha256[:12]}"


def _duplicate_example(split: str, sha256: str, sources: Sources | None) -> str:
    """Two files of one duplicated image, else its hash."""
    paths = [path for path, _ in _files(sources, split, sha256)]
    if len(paths) < 2:
        return f"sha256 {sha256[:12]}"
    return _two_files(paths[0], paths[1], sha256)


def _conflict_example(split: str, sha256: str, labels: set[str], sources: Sources | None) -> str:
    """Two files of one image under different labels, else its hash and labels."""
    rows = _files(sources, split, sha256)
    other = [row for row in rows if row[1] != rows[0][1]] if rows else []
    if not other:
        return f"sha256 {sha256[:12]} labelled {sorted(labels)}"
    (path_a, label_a), (path_b, label_b) = rows[0], other[0]
    return _two_files(f"{path_a} ({label_a})", f"{path_b} ({label_b})", sha256)


def _leak_example(split: str, train: str, sha256: str, sources: Sources | None) -> str:
    """The image's file in the evaluation split and in the training split, else its hash."""
    held_out, trained = _files(sources, split, sha256), _files(sources, train, sha256)
    if not held_out or not trained:
        return f"sha256 {sha256[:12]}"
    return _two_files(f"{held_out[0][0]} ({split})", f"{trained[0][0]} ({train})", sha256)


def duplicates(
    split: str, records: Sequence[ImageRecord], sources: Sources | None = None
) -> list[Issue]:
    """Duplicates within a split; the same bytes under two labels is an error.

    With `sources`, a message names two files of its example image.
    """
    by_hash: dict[str, set[str]] = collections.defaultdict(set)
    counts = collections.Counter()
    for r in records:
        by_hash[r.sha256].add(r.label_name)
        counts[r.sha256] += 1
    issues = []
    dup = [h for h, c in counts.items() if c > 1]
    if dup:
        extra = sum(counts[h] - 1 for h in dup)
        issues.append(
            Issue(
                "duplicate_images",
                "sha256",
                WARNING,
                split,
                f"{len(dup)} images occur more than once ({extra} extra copies), "
                f"e.g. {_duplicate_example(split, min(dup), sources)}",
            )
        )
    conflict = sorted(h for h, labels in by_hash.items() if len(labels) > 1)
    if conflict:
        issues.append(
            Issue(
                "conflicting_labels",
                "sha256",
                ERROR,
                split,
                f"{len(conflict)} identical images carry different labels, e.g. "
                + _conflict_example(split, conflict[0], by_hash[conflict[0]], sources),
            )
        )
    return issues


def leakage(
    splits: Mapping[str, Sequence[ImageRecord]],
    train: str = "train",
    evals: Iterable[str] = ("eval",),
    sources: Sources | None = None,
) -> list[Issue]:
    """The same image (by sha256) in the training split and an evaluation split.

    With `sources`, a message names the image's file in each of the two splits.
    """
    if train not in splits:
        return []
    train_hashes = {r.sha256 for r in splits[train]}
    issues = []
    for split in evals:
        shared = sorted({r.sha256 for r in splits.get(split, ())} & train_hashes)
        if shared:
            issues.append(
                Issue(
                    "train_eval_leak",
                    "sha256",
                    ERROR,
                    split,
                    f"{len(shared)} images of split {split!r} also occur in {train!r}, "
                    f"e.g. {_leak_example(split, train, shared[0], sources)}",
                )
            )
    return issues


def run_checks(
    splits: Mapping[str, Sequence[ImageRecord]],
    cfg: CheckConfig,
    sources: Sources | None = None,
) -> list[Issue]:
    """All image checks over every split; `sources` lets findings name files."""
    issues: list[Issue] = []
    everything = [r for records in splits.values() for r in records]
    issues += class_balance(ALL_SPLITS, everything, cfg)
    for split, records in sorted(splits.items()):
        if not records:
            issues.append(
                Issue("empty_split", "label_name", ERROR, split, f"split {split!r} has no examples")
            )
        issues += size_and_channel_spread(split, records, cfg)
        issues += duplicates(split, records, sources)
    issues += missing_classes(splits)
    issues += leakage(splits, evals=[s for s in splits if s != "train"], sources=sources)
    return issues
