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

from components.image_example_gen import ops
from models.cnn import features

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
    """Sorted files (not folders) matching `input_base/pattern`, relative to input_base."""
    matches = tf.io.gfile.glob(os.path.join(input_base, pattern))
    files = [m for m in matches if not tf.io.gfile.isdir(m)]
    return sorted(os.path.relpath(m, input_base) for m in files)


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
    """Label = name of the file's parent folder."""
    items = []
    for f in files:
        parent = os.path.basename(os.path.dirname(f))
        if not parent:
            raise ValueError(
                f"{f} is not inside a class folder; a class-per-folder pattern looks like '*/*'"
            )
        items.append(SourceItem(path=f, label_name=parent))
    return items


def parse_manifest(text: str, manifest_path: str) -> list[SourceItem]:
    """Parses a `path,label` CSV (header required).

    Image paths are relative to the manifest's folder (`manifest_path` is
    relative to input_base); absolute paths are kept.
    """
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in reader.fieldnames or []]
    if "path" not in fields or "label" not in fields:
        raise ValueError(
            f"{manifest_path}: CSV manifest needs a header with columns 'path' and 'label', "
            f"got {fields}"
        )
    folder = os.path.dirname(manifest_path)
    items = []
    for line_no, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not row["path"]:
            raise ValueError(f"{manifest_path}:{line_no}: empty 'path'")
        path = os.path.normpath(os.path.join(folder, row["path"]))
        items.append(SourceItem(path=path, label_name=row["label"] or None))
    return items


def read_manifest(input_base: str, manifest_path: str) -> list[SourceItem]:
    """Reads and parses one manifest (path relative to input_base)."""
    with tf.io.gfile.GFile(os.path.join(input_base, manifest_path)) as f:
        return parse_manifest(f.read(), manifest_path)


def tfrecord_compression(path: str) -> str:
    """'GZIP' when the file starts with the gzip magic, else ''."""
    with tf.io.gfile.GFile(path, "rb") as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def read_tfrecord(path: str) -> Iterator[bytes]:
    """Yields the records of one TFRecord file, gzip or not (raises tf.errors.DataLossError)."""
    dataset = tf.data.TFRecordDataset(path, compression_type=tfrecord_compression(path))
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
        lacks the image or any label.
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
        return image[1][0], name[1][0].decode("utf-8")
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


def split_label_names(
    input_base: str, files: Sequence[str], input_format: str, fixed: Sequence[str] | None
) -> set[str]:
    """Label names one input split can produce (for the vocabulary, before Beam).

    TFRecords are scanned once here; records that cannot be parsed are skipped
    (the Beam pass quarantines them).
    """
    if input_format == FOLDERS:
        return {item.label_name for item in folder_items(files)}
    if input_format == CSV:
        return {
            item.label_name
            for f in files
            for item in read_manifest(input_base, f)
            if item.label_name
        }
    names = set()
    for f in files:
        try:
            for record in read_tfrecord(os.path.join(input_base, f)):
                try:
                    names.add(parse_record(record, fixed)[1])
                except ops.ImageRejected:
                    continue
        except tf.errors.DataLossError:
            continue
    return names
