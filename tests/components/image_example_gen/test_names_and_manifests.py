"""File names that are not UTF-8, CSV manifest encodings and malformed rows,
garbage TFRecords, and span/fingerprint resolution without a driver (no Beam)."""

from __future__ import annotations

import datetime
import os

import pytest
import tensorflow as tf
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2
from tfx.utils import io_utils, proto_utils

from components.image_example_gen import beam_io, executor, inputs, names, ops, sources

BAD_FILE = os.fsdecode(b"b\xfe.png")
BAD_FOLDER = os.fsdecode(b"d\xffog")


@pytest.fixture
def bad_names_tree(tmp_path, imaging):
    """span-1/cat, span-2/{cat,<0xff>og} with one file name and one folder name not UTF-8."""
    png = imaging.cases["rgb.png"][0]
    for rel in ("span-1/cat/a.png", "span-2/cat/a.png", f"span-2/cat/{BAD_FILE}"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(png)
    (tmp_path / "span-2" / BAD_FOLDER).mkdir()
    (tmp_path / "span-2" / BAD_FOLDER / "c.png").write_bytes(png)
    return tmp_path


def test_tensorflow_glob_fails_on_such_names_and_names_glob_lists_them(bad_names_tree):
    pattern = str(bad_names_tree / "span-2" / "*" / "*")
    with pytest.raises(UnicodeDecodeError):
        tf.io.gfile.glob(pattern)
    listed = names.glob(pattern)
    assert sorted(os.path.relpath(p, bad_names_tree) for p in listed) == sorted(
        ["span-2/cat/a.png", f"span-2/cat/{BAD_FILE}", f"span-2/{BAD_FOLDER}/c.png"]
    )


def test_local_glob_matches_tensorflow_glob_on_utf8_names(tmp_path):
    for rel in ("a/x.png", "a/.hidden.png", "a/y[1].png", "b/z.jpg", "b/sub/deep.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    for pattern in ("*/*", "a/*.png", "b/*", "*/sub/*", "a/x.png", "nope/*", "*"):
        full = str(tmp_path / pattern)
        assert sorted(names._local_glob(full)) == sorted(tf.io.gfile.glob(full)), pattern


def test_escaped_names_show_the_bytes_and_are_utf8():
    shown = names.escaped(f"span-2/{BAD_FOLDER}/c.png")
    assert shown == "span-2/d\\xffog/c.png"
    shown.encode("utf-8")
    assert names.is_undecodable(BAD_FILE) and not names.is_undecodable("café.png")


def test_folder_items_quarantine_undecodable_file_and_folder_names(bad_names_tree):
    files = sources.list_files(str(bad_names_tree), "span-2/*/*")
    items = sources.folder_items(files)
    rejected = {i.path: i.rejected[0] for i in items if i.rejected}
    assert rejected == {
        "span-2/cat/b\\xfe.png": ops.UNDECODABLE_NAME,
        "span-2/d\\xffog/c.png": ops.UNDECODABLE_NAME,
    }
    labels, _ = sources.scan_label_names(str(bad_names_tree), files, sources.FOLDERS, ())
    assert labels == {"cat"}


def test_listing_chunks_round_trip_undecodable_names_and_reasons(bad_names_tree):
    files = sources.list_files(str(bad_names_tree), "span-2/*/*")
    raw = sources.SourceItem(path=f"{BAD_FOLDER}/{BAD_FILE}", label_name=BAD_FOLDER)
    items = sources.folder_items(files) * 3 + [raw]  # 10 items: chunks of 4, 4 and 2
    chunks = beam_io.encode_chunks(items, size=4)
    assert [len(beam_io.decode_chunk(c)) for c in chunks] == [4, 4, 2]
    assert [item for c in chunks for item in beam_io.decode_chunk(c)] == items
    assert any(item.rejected for item in items) and any(item.label_name for item in items)


def test_span_and_fingerprint_resolve_past_undecodable_names(bad_names_tree):
    splits = [example_gen_pb2.Input.Split(name="single_split", pattern="span-{SPAN}/*/*")]
    fingerprint, span, version = inputs.fingerprint_span_and_version(str(bad_names_tree), splits)
    assert (span, version) == (2, None)
    assert splits[0].pattern == "span-2/*/*"
    assert fingerprint.startswith("split:single_split,num_files:3,total_bytes:")


def test_fingerprint_fallback_has_tfx_format_and_values(tmp_path):
    for rel in ("a/x.png", "b/y.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"12345")
    pattern = str(tmp_path / "*" / "*")
    assert inputs.split_fingerprint("train", pattern) == io_utils.generate_fingerprint(
        "train", pattern
    )


def test_resolve_exec_properties_matches_tfx_helper(tmp_path):
    for rel in ("span-3/a/x.png", "span-10/a/x.png", "span-10/b/y.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"abc")
    config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="s", pattern="span-{SPAN}/*/*")]
    )
    props = inputs.resolve_exec_properties(
        {"input_base": str(tmp_path), "input_config": proto_utils.proto_to_json(config)}
    )
    expected = example_gen_utils.calculate_splits_fingerprint_span_and_version(
        str(tmp_path), [example_gen_pb2.Input.Split(name="s", pattern="span-{SPAN}/*/*")]
    )
    assert (props["input_fingerprint"], props["span"], props["version"]) == expected
    assert '"span-10/*/*"' in props["input_config"]


def test_manifest_with_byte_order_mark_is_read():
    text = sources.decode_manifest(b"\xef\xbb\xbfpath,label\nimg/a.png,dog\n", "m.csv")
    items = sources.parse_manifest(text, "m.csv")
    assert [(i.path, i.label_name) for i in items] == [("img/a.png", "dog")]


def test_latin1_manifest_is_an_error_naming_file_and_line():
    data = "path,label\nimg/a.png,dog\nimg/b.png,caf\xe9\n".encode("latin-1")
    with pytest.raises(ValueError, match=r"^m\.csv:3: CSV manifest is not UTF-8 \(byte 0xe9\)"):
        sources.decode_manifest(data, "m.csv")


def test_extra_and_missing_fields_are_quarantined_with_file_and_line():
    text = "path,label\nimg/a.png,dog,extra\nimg/b.png\n,cat\nimg/c.png,cat\n"
    items = sources.parse_manifest(text, "lists/m.csv")
    assert [(i.path, i.rejected and i.rejected[0]) for i in items] == [
        ("lists/m.csv:2", ops.BAD_MANIFEST_ROW),
        ("lists/m.csv:3", ops.BAD_MANIFEST_ROW),
        ("lists/m.csv:4", ops.BAD_MANIFEST_ROW),
        ("lists/img/c.png", None),
    ]
    assert "expected 2 fields (path,label), got 3" in items[0].rejected[1]
    assert "got 1" in items[1].rejected[1] and "empty 'path'" in items[2].rejected[1]


def test_unreadable_csv_is_an_error_naming_file_and_line():
    with pytest.raises(ValueError, match=r"^m\.csv:2: CSV manifest cannot be parsed"):
        sources.parse_manifest('path,label\n"img/a.png,dog\n', "m.csv")


def test_garbage_tfrecord_is_named_not_a_tfrecord(tmp_path, imaging):
    (tmp_path / "junk.tfrecord").write_bytes(imaging.cases["rgb.png"][0] * 3)
    (items,) = list(beam_io.tfrecord_items("junk.tfrecord", str(tmp_path)))
    assert items.rejected[0] == ops.NOT_A_TFRECORD
    assert items.rejected[1].startswith("not a TFRecord file")
    config = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="s", pattern="*")])
    with pytest.raises(ValueError, match=r"junk\.tfrecord: not a TFRecord file"):
        executor.compute_vocabulary(str(tmp_path), config, sources.AUTO, ())


def test_refused_dir_is_beside_the_output_folders():
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert (
        executor.refused_dir("root/ImageExampleGen/quarantine/7", now)
        == "root/ImageExampleGen/refused/7-20260102T030405Z"
    )
    assert (
        executor.refused_dir("gs://b/root/run-1/ImageExampleGen/quarantine", now)
        == "gs://b/root/run-1/refused/quarantine-20260102T030405Z"
    )


def test_local_driver_resolves_span_past_undecodable_names(bad_names_tree):
    config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="s", pattern="span-{SPAN}/*/*")]
    )
    props = {"input_base": str(bad_names_tree), "input_config": proto_utils.proto_to_json(config)}
    with pytest.raises(UnicodeDecodeError):  # TFX's own driver stops here
        example_gen_utils.calculate_splits_fingerprint_span_and_version(
            str(bad_names_tree), config.splits
        )
    resolved = inputs.ImageFileBasedDriver(None).resolve_exec_properties(props, None, None)
    assert resolved["span"] == 2 and '"span-2/*/*"' in resolved["input_config"]
    assert "num_files:3" in resolved["input_fingerprint"]
