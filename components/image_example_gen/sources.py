"""Input kinds of ImageExampleGen: class-per-folder trees, CSV manifests
(`path,label`) and TFRecords of tf.Example. Pure functions, no TFX or Beam."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Iterator, Sequence

import tensorflow as tf
from google.protobuf.message import DecodeError

from components.image_example_gen import names, ops
from contracts import features
from contracts.manifest import COLUMNS, decode_manifest
from models import tfdata

AUTO = "auto"
FOLDERS = "folders"
CSV = "csv"
TFRECORD = "tfrecord"
INPUT_FORMATS = (AUTO, FOLDERS, CSV, TFRECORD)


def _looks_like_tfrecord(name: str) -> bool:
    # data.tfrecord, data.tfrecords.gz, data.tfrecord-00000-of-00004, part-0.gz
    return ".tfrecord" in name or name.endswith(".gz")


# Keys accepted in input tf.Examples: ours first, then common conventions.
_IMAGE_KEYS = (features.IMAGE_KEY, "image/encoded", "image_raw")
_LABEL_NAME_KEYS = (features.LABEL_NAME_KEY, "image/class/text")
_LABEL_KEYS = (features.LABEL_KEY, "image/class/label")


@dataclasses.dataclass(frozen=True)
class SourceItem:
    """One input unit: a file (payload None, read later) or a TFRecord record.

    `path` is relative to input_base (TFRecord records: `file#index`), used in
    reports; `label_name` is None when only the payload can tell.
    """

    path: str
    label_name: str | None = None
    payload: bytes | None = None
    rejected: tuple[str, str] | None = None  # (reason, detail) known before decoding


def list_files(input_base: str, pattern: str) -> list[str]:
    """Sorted files (not folders) matching `input_base/pattern`, relative to input_base.

    Names that are not UTF-8 come back surrogate-escaped (see `names`).
    """
    matches = names.glob(os.path.join(input_base, pattern))
    prefix = os.path.join(input_base, "")
    return sorted(
        # os.path.relpath costs ~20 us a name (two abspaths); the prefix is what glob kept.
        os.path.normpath(m[len(prefix) :])
        if m.startswith(prefix)
        else os.path.relpath(m, input_base)
        for m in matches
        if not names.isdir(m)
    )


def undecodable_item(rel_path: str) -> SourceItem:
    """Quarantine item for a file whose name (or a folder's) is not UTF-8."""
    return SourceItem(
        path=names.escaped(rel_path),
        rejected=(
            ops.UNDECODABLE_NAME,
            "file or folder name is not UTF-8 (bytes shown as \\xNN); rename it to UTF-8",
        ),
    )


def split_by_name(files: Sequence[str]) -> tuple[list[str], list[SourceItem]]:
    """(files with UTF-8 names, quarantine items for the others)."""
    good = [f for f in files if not names.is_undecodable(f)]
    bad = [undecodable_item(f) for f in files if names.is_undecodable(f)]
    return good, bad


def resolve_input_format(requested: str, files: Sequence[str]) -> str:
    """`auto`: all `.csv` -> csv, all `*.tfrecord*` / `*.gz` -> tfrecord, else folders."""
    if requested not in INPUT_FORMATS:
        raise ValueError(f"input_format={requested!r}; expected one of {INPUT_FORMATS}")
    if requested != AUTO:
        return requested
    lower = [f.lower() for f in files]
    if lower and all(f.endswith(".csv") for f in lower):
        return CSV
    if lower and all(_looks_like_tfrecord(os.path.basename(f)) for f in lower):
        return TFRECORD
    return FOLDERS


def folder_items(files: Sequence[str]) -> list[SourceItem]:
    """Label = name of the file's parent folder; names not UTF-8 are quarantined."""
    items = []
    for f in files:
        if names.is_undecodable(f):
            items.append(undecodable_item(f))
            continue
        parent = os.path.basename(os.path.dirname(f))
        if not parent:
            raise ValueError(
                f"{f} is not inside a class folder; a class-per-folder pattern looks like '*/*'"
            )
        items.append(SourceItem(path=f, label_name=parent))
    return items


def _bad_row(manifest_path: str, line_no: int, detail: str) -> SourceItem:
    return SourceItem(
        path=f"{manifest_path}:{line_no}", rejected=(ops.BAD_MANIFEST_ROW, detail[:200])
    )


def parse_manifest(text: str, manifest_path: str) -> list[SourceItem]:
    """Parses a `path,label` CSV (header required; more columns allowed).

    Image paths are relative to the manifest's folder (`manifest_path` is
    relative to input_base); absolute paths are kept. A row with more or fewer
    fields than the header, or an empty path, becomes a `bad_manifest_row`
    item named `manifest:line`.

    Raises:
      ValueError: naming the file (and line) when the header lacks `path` or
        `label`, or the CSV itself cannot be read.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    items: list[SourceItem] = []
    try:
        header = [field.strip() for field in next(reader, [])]
        if any(column not in header for column in COLUMNS):
            raise ValueError(
                f"{manifest_path}: CSV manifest needs a header with columns 'path' and "
                f"'label', got {header}"
            )
        path_col, label_col = header.index("path"), header.index("label")
        folder = os.path.dirname(manifest_path)
        for row in reader:
            line_no = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                items.append(
                    _bad_row(
                        manifest_path,
                        line_no,
                        f"expected {len(header)} fields ({','.join(header)}), "
                        f"got {len(row)}: {','.join(row)!r}",
                    )
                )
                continue
            path, label = row[path_col].strip(), row[label_col].strip()
            if not path:
                items.append(_bad_row(manifest_path, line_no, "empty 'path'"))
                continue
            path = os.path.normpath(os.path.join(folder, path))
            items.append(SourceItem(path=path, label_name=label or None))
    except csv.Error as e:
        raise ValueError(
            f"{manifest_path}:{reader.line_num}: CSV manifest cannot be parsed ({e})"
        ) from e
    return items


def read_manifest(input_base: str, manifest_path: str) -> list[SourceItem]:
    """Reads and parses one manifest (path relative to input_base)."""
    if names.is_undecodable(manifest_path):
        return [undecodable_item(manifest_path)]
    with tf.io.gfile.GFile(os.path.join(input_base, manifest_path), "rb") as f:
        return parse_manifest(decode_manifest(f.read(), manifest_path), manifest_path)


def tfrecord_compression(path: str) -> str:
    """'GZIP' when the file starts with the gzip magic, else ''."""
    with tf.io.gfile.GFile(path, "rb") as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def read_tfrecord(path: str) -> Iterator[bytes]:
    """Yields the records of one TFRecord file, gzip or not (raises tf.errors.DataLossError)."""
    dataset = tfdata.tfrecords(path, tfrecord_compression(path))
    for record in dataset.as_numpy_iterator():
        yield bytes(record)


def _first(feature_map, keys: Sequence[str], kind: str) -> tuple[str, list] | None:
    for key in keys:
        if key in feature_map:
            values = list(getattr(feature_map[key], kind).value)
            if values:
                return key, values
    return None


def parse_record(serialized: bytes, fixed_labels: Sequence[str] | None = None) -> tuple[bytes, str]:
    """Image bytes and label name of an input tf.Example.

    The label name comes from `label_name` (or `image/class/text`); failing
    that from the integer `label`, mapped through `fixed_labels` when given,
    else its decimal string.

    Raises:
      ops.ImageRejected: BAD_RECORD when the record is not a tf.Example or
        lacks the image or any label; UNDECODABLE_NAME when its label name is not
        UTF-8.
    """
    example = tf.train.Example()
    try:
        example.ParseFromString(serialized)
    except DecodeError as e:
        raise ops.ImageRejected(ops.BAD_RECORD, f"not a tf.Example: {e}") from e
    fmap = example.features.feature
    image = _first(fmap, _IMAGE_KEYS, "bytes_list")
    if image is None:
        raise ops.ImageRejected(ops.BAD_RECORD, f"no image bytes under any of {_IMAGE_KEYS}")
    name = _first(fmap, _LABEL_NAME_KEYS, "bytes_list")
    if name is not None:
        raw = name[1][0]
        try:
            return image[1][0], raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ops.ImageRejected(
                ops.UNDECODABLE_NAME,
                f"feature '{name[0]}' is not UTF-8 (byte 0x{raw[e.start]:02x} at position "
                f"{e.start} of {raw[:40]!r}); write label names as UTF-8",
            ) from e
    label = _first(fmap, _LABEL_KEYS, "int64_list")
    if label is None:
        raise ops.ImageRejected(
            ops.BAD_RECORD, f"no label under any of {_LABEL_NAME_KEYS + _LABEL_KEYS}"
        )
    label_id = int(label[1][0])
    if fixed_labels:
        if not 0 <= label_id < len(fixed_labels):
            raise ops.ImageRejected(
                ops.UNKNOWN_LABEL, f"label {label_id} outside labels[0..{len(fixed_labels) - 1}]"
            )
        return image[1][0], fixed_labels[label_id]
    return image[1][0], str(label_id)


TFRECORD_FRAMING_BYTES = 16
"""Bytes around each record in a TFRecord file: length (8), its CRC (4), data CRC (4)."""


def damaged_tfrecord_detail(path: str, index: int, offset: int, error: tf.errors.OpError) -> str:
    """Quarantine detail for a TFRecord file that fails after `index` good records,
    the next one starting at byte `offset` (of the uncompressed stream for gzip files)."""
    text = error.message.lower()
    if "truncated" in text or "less bytes" in text or "end of file" in text:
        why = "the file ends in the middle of that record (cut short while copying?)"
    elif "corrupt" in text or "crc" in text or "checksum" in text:
        why = "that record's checksum does not match its bytes (the file was altered)"
    else:
        why = f"TensorFlow could not read it ({error.message.splitlines()[0][:120]})"
    where = "of the uncompressed stream " if tfrecord_compression(path) else ""
    return (
        f"TFRecord damaged: {index} records read, the record starting at byte {offset} "
        f"{where}cannot be read: {why}; any records after it are lost"
    )


def not_a_tfrecord_detail(error: tf.errors.OpError) -> str:
    """Quarantine detail for a file that fails before its first record."""
    return f"not a TFRecord file ({error.message.splitlines()[0][:150]})"


def scan_label_names(
    input_base: str, files: Sequence[str], input_format: str, fixed: Sequence[str] | None
) -> tuple[set[str], list[str]]:
    """Label names one input split can produce (for the vocabulary, before Beam),
    and the TFRecord inputs that are not TFRecords at all (`file: detail`).

    TFRecords are scanned once here; records that cannot be parsed are skipped
    (the Beam pass quarantines them). Names that are not UTF-8 are skipped too.
    """
    files, _ = split_by_name(files)
    if input_format == FOLDERS:
        return {item.label_name for item in folder_items(files)}, []
    if input_format == CSV:
        labels = {
            item.label_name
            for f in files
            for item in read_manifest(input_base, f)
            if item.label_name
        }
        return labels, []
    labels, not_tfrecords = set(), []
    for f in files:
        index = 0
        try:
            for record in read_tfrecord(os.path.join(input_base, f)):
                index += 1
                try:
                    labels.add(parse_record(record, fixed)[1])
                except ops.ImageRejected:
                    continue
        except tf.errors.OpError as e:
            if index == 0:
                not_tfrecords.append(f"{f}: {not_a_tfrecord_detail(e)}")
    return labels, not_tfrecords
