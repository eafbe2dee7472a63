"""Beam transforms of ImageExampleGen: inputs of one split pattern -> checked tf.Examples.

Bad inputs leave through a tagged side output and are written, with the
count of inputs seen, to a staging folder the executor reads after the run.
Staging files are written with `tf.io.gfile` (so any filesystem TensorFlow
knows, ram:// included), one file per aggregate under a fixed name, so a
retried bundle rewrites the same file. The quarantine records of one input
pattern are gathered on one worker for that (a few hundred bytes each).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import tensorflow as tf

from components.image_example_gen import listing, ops, report, sources
from contracts import features

QUARANTINE_TAG = "quarantine"
SEEN_PREFIX = "seen-"
BAD_PREFIX = "bad-"
COUNTS_PREFIX = "examples-"


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    """Everything the Beam stages need, built by the executor from exec_properties."""

    input_base: str
    input_format: str
    vocab: tuple[str, ...]
    fixed_labels: tuple[str, ...]
    limits: ops.ImageLimits
    staging_dir: str
    splits: dict[str, listing.SplitRule]
    """Input split pattern -> how its examples map to output splits (for the listing)."""


def pattern_key(pattern: str) -> str:
    """Short stable file-name key for an input pattern."""
    return hashlib.sha1(pattern.encode("utf-8")).hexdigest()[:12]


def _read_file(input_base: str, rel_path: str) -> bytes:
    path = os.path.join(input_base, rel_path)
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except tf.errors.NotFoundError as e:
        raise ops.ImageRejected(ops.MISSING, "file does not exist") from e
    except (tf.errors.OpError, OSError) as e:
        raise ops.ImageRejected(ops.UNREADABLE, str(e)[:200]) from e


def tfrecord_items(rel_path: str, input_base: str) -> Iterator[sources.SourceItem]:
    """Records of one TFRecord file; a damaged file ends with one quarantine item.

    A file that fails before its first record is `not_a_tfrecord`; one that
    fails later is `corrupt`, its reason saying at which byte and why in plain words.
    """
    index = offset = 0
    path = os.path.join(input_base, rel_path)
    try:
        for record in sources.read_tfrecord(path):
            yield sources.SourceItem(path=f"{rel_path}#{index}", payload=record)
            index += 1
            offset += len(record) + sources.TFRECORD_FRAMING_BYTES
    except tf.errors.OpError as e:
        if index == 0:
            rejected = (ops.NOT_A_TFRECORD, sources.not_a_tfrecord_detail(e))
        else:
            rejected = (ops.CORRUPT, sources.damaged_tfrecord_detail(path, index, offset, e))
        yield sources.SourceItem(path=f"{rel_path}#{index}", rejected=rejected)


# Inputs decode-checked together: TensorFlow's decodes of a batch run in one call.
CHECK_BATCH = 256


class CheckAndBuildExample(beam.DoFn):
    """Decode-checks a batch of inputs; emits a tf.Example or a tagged quarantine
    record for each, and the batch's listing lines (tagged) once."""

    def __init__(self, config: IngestConfig, input_pattern: str):
        self._config = config
        self._pattern = input_pattern
        self._rule = config.splits[input_pattern]
        self._ids: dict[str, int] = {}

    def setup(self) -> None:
        self._ids = {name: i for i, name in enumerate(self._config.vocab)}

    def _payload(self, item: sources.SourceItem) -> tuple[bytes, str | None]:
        """(encoded image, label name) of one input; ImageRejected before decoding."""
        label_name = item.label_name
        if item.rejected:
            raise ops.ImageRejected(*item.rejected)
        if item.payload is None:
            data = _read_file(self._config.input_base, item.path)
        else:
            data, label_name = sources.parse_record(item.payload, self._config.fixed_labels)
        if not label_name:
            raise ops.ImageRejected(ops.BAD_RECORD, "empty label")
        if label_name not in self._ids:
            raise ops.ImageRejected(
                ops.UNKNOWN_LABEL, f"{label_name!r} is not in labels {list(self._config.vocab)}"
            )
        return data, label_name

    def _quarantine(self, item: sources.SourceItem, e: ops.ImageRejected, label: str | None):
        return beam.pvalue.TaggedOutput(
            QUARANTINE_TAG,
            report.quarantine_record(item.path, e.reason, e.detail, label, self._pattern),
        )

    def process(self, items: Sequence[sources.SourceItem]) -> Iterator[Any]:
        read: list[tuple[bytes, str | None] | ops.ImageRejected] = []
        for item in items:
            try:
                read.append(self._payload(item))
            except ops.ImageRejected as e:
                read.append(e)
        payloads = [r[0] for r in read if not isinstance(r, ops.ImageRejected)]
        checked = iter(ops.check_images(payloads, self._config.limits))
        lines = []
        for item, result in zip(items, read, strict=True):  # outputs in input order
            if isinstance(result, ops.ImageRejected):
                yield self._quarantine(item, result, item.label_name)
                continue
            data, label_name = result
            info = next(checked)
            if isinstance(info, ops.ImageRejected):
                yield self._quarantine(item, info, label_name)
                continue
            example = ops.build_example(data, info, self._ids[label_name], label_name)
            split = self._rule.split_of(example)
            lines.append(listing.listing_line(item.path, info.sha256, split, label_name))
            yield example
        yield beam.pvalue.TaggedOutput(listing.LISTING_TAG, lines)


def list_items(config: IngestConfig, files: Sequence[str], input_format: str) -> list:
    """SourceItems for folder and CSV inputs (TFRecords are expanded in Beam)."""
    if input_format == sources.FOLDERS:
        return sources.folder_items(files)
    if input_format == sources.CSV:
        return [item for f in files for item in sources.read_manifest(config.input_base, f)]
    raise ValueError(f"list_items does not handle input_format={input_format!r}")


def encode_chunks(items: Sequence[sources.SourceItem], size: int = CHECK_BATCH) -> list[bytes]:
    """Listed (folder and CSV) items as JSON, `size` to a chunk.

    Beam pickles a Create's values into the pipeline graph (dill, then bz2),
    per object: 70,000 SourceItems spent 9 s in bz2 alone (a profile), a few
    hundred byte strings almost nothing. Names that are not UTF-8 survive
    (JSON escapes their surrogates).
    """
    rows = [(item.path, item.label_name, item.rejected) for item in items]
    return [json.dumps(rows[i : i + size]).encode("ascii") for i in range(0, len(rows), size)]


def decode_chunk(chunk: bytes) -> list[sources.SourceItem]:
    """Inverse of one `encode_chunks` chunk."""
    return [
        sources.SourceItem(path=path, label_name=label, rejected=tuple(bad) if bad else None)
        for path, label, bad in json.loads(chunk)
    ]


def write_json_lines(rows: Sequence[Any], path: str) -> None:
    """One JSON document per line, written through tf.io.gfile."""
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


def _write_jsonl(pcoll: beam.PCollection, path: str, label: str) -> None:
    _ = (
        pcoll
        | f"{label}ToList" >> beam.combiners.ToList()
        | f"Write{label}" >> beam.Map(write_json_lines, path)
    )


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def ImagesToExample(  # noqa: N802 (Beam PTransform naming)
    pipeline: beam.Pipeline,
    config: IngestConfig,
    split_pattern: str,
    files: Sequence[str] | None = None,
) -> beam.PCollection:
    """Reads the inputs matching `split_pattern` (`files`, when listed already),
    decode-checks them, builds tf.Examples."""
    if files is None:
        files = sources.list_files(config.input_base, split_pattern)
    if not files:
        raise ValueError(
            f"ImageExampleGen: no files match {split_pattern!r} under input_base "
            f"{config.input_base}; a class-per-folder tree needs a pattern like '*/*'"
        )
    input_format = sources.resolve_input_format(config.input_format, files)
    files, bad_names = sources.split_by_name(files)
    if input_format == sources.TFRECORD:
        records = (
            pipeline
            | "ListTFRecordFiles" >> beam.Create(files)
            | "ReadRecords" >> beam.FlatMap(tfrecord_items, config.input_base)
        )
        badly_named = pipeline | "ListUndecodableNames" >> beam.Create(bad_names)
        batches = (
            (records, badly_named)
            | "AllItems" >> beam.Flatten()
            | "Batch" >> beam.BatchElements(min_batch_size=CHECK_BATCH, max_batch_size=CHECK_BATCH)
        )
    else:
        listed = list_items(config, files, input_format) + bad_names
        batches = (
            pipeline
            | "ListInputs" >> beam.Create(encode_chunks(listed))
            | "Chunks" >> beam.Map(decode_chunk)
        )

    checked = batches | "DecodeCheck" >> beam.ParDo(
        CheckAndBuildExample(config, split_pattern)
    ).with_outputs(QUARANTINE_TAG, listing.LISTING_TAG, main="examples")

    key = pattern_key(split_pattern)
    seen_path = os.path.join(config.staging_dir, f"{SEEN_PREFIX}{key}.jsonl")
    _ = (
        batches
        | "BatchSizes" >> beam.Map(len)
        | "CountSeen" >> beam.CombineGlobally(sum)
        | "WriteSeen"
        >> beam.Map(
            lambda n: write_json_lines([{"input_pattern": split_pattern, "seen": n}], seen_path)
        )
    )
    _write_jsonl(
        checked[QUARANTINE_TAG],
        os.path.join(config.staging_dir, f"{BAD_PREFIX}{key}.jsonl"),
        "Quarantine",
    )
    _ = checked[listing.LISTING_TAG] | "Listing" >> listing.WriteListing(config.staging_dir, key)
    return checked.examples


class LabelCounts(beam.CombineFn):
    """tf.Examples -> Counter of their label names (one combine, no per-element Map)."""

    def create_accumulator(self) -> collections.Counter:
        return collections.Counter()

    def add_input(self, counts: collections.Counter, example: tf.train.Example):
        counts[example.features.feature[features.LABEL_NAME_KEY].bytes_list.value[0]] += 1
        return counts

    def merge_accumulators(self, accumulators: Iterable[collections.Counter]):
        merged: collections.Counter = collections.Counter()
        for counts in accumulators:
            merged.update(counts)
        return merged

    def extract_output(self, counts: collections.Counter) -> dict[str, int]:
        return {name.decode("utf-8"): n for name, n in sorted(counts.items())}


@beam.ptransform_fn
def CountExamples(  # noqa: N802 (Beam PTransform naming)
    examples: beam.PCollection, staging_dir: str, split_name: str
) -> beam.pvalue.PDone:
    """Writes {split, label_name, count} lines for one output split."""
    path = os.path.join(staging_dir, f"{COUNTS_PREFIX}{split_name}.jsonl")

    def write(counts: dict[str, int]) -> None:
        rows = [{"split": split_name, "label_name": k, "count": n} for k, n in counts.items()]
        write_json_lines(rows, path)

    return examples | "PerLabel" >> beam.CombineGlobally(LabelCounts()) | "Write" >> beam.Map(write)
