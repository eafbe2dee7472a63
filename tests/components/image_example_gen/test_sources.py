"""Input kinds: folders, CSV manifests, TFRecords; and the per-item check (no TFX)."""

from __future__ import annotations

import json

import pytest
import tensorflow as tf

from components.image_example_gen import beam_io, component, listing, ops, report, sources
from contracts import features

# How the tests' input patterns split: folders as a pipeline's default hash
# split, the others into one split.
SPLITS = {
    "*/*": listing.split_rules(
        component.default_input_config(), component.default_output_config(eval_fraction=0.5)
    )["*/*"],
    "lists/*.csv": listing.SplitRule(("train",)),
    "*.tfrecord": listing.SplitRule(("train",)),
}


def _config(root, vocab, fixed=()):
    return beam_io.IngestConfig(
        input_base=str(root),
        input_format=sources.AUTO,
        vocab=tuple(vocab),
        fixed_labels=tuple(fixed),
        limits=ops.ImageLimits(),
        staging_dir=str(root / "_staging"),
        splits=SPLITS,
    )


def _run_items_listed(config, items, pattern="*/*"):
    """Runs the Beam DoFn body directly on one batch: (examples, quarantine records,
    listing rows)."""
    dofn = beam_io.CheckAndBuildExample(config, pattern)
    dofn.setup()
    examples, bad, listed = [], [], []
    for out in dofn.process(list(items)):
        if isinstance(out, tf.train.Example):
            examples.append(out)
        elif out.tag == listing.LISTING_TAG:
            listed += [json.loads(line) for line in out.value]
        else:
            assert out.tag == beam_io.QUARANTINE_TAG
            bad.append(out.value)
    return examples, bad, listed


def _run_items(config, items, pattern="*/*"):
    """(examples, quarantine records) of one batch."""
    return _run_items_listed(config, items, pattern)[:2]


def _example_bytes(image: bytes, **extra) -> bytes:
    feature = {features.IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))}
    for key, value in extra.items():
        if isinstance(value, int):
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_folder_tree_every_file_gets_its_reason_and_counts_reconcile(odd_tree):
    root, expected = odd_tree
    files = sources.list_files(str(root), "*/*")
    assert sorted(files) == sorted(expected)
    assert sources.resolve_input_format(sources.AUTO, files) == sources.FOLDERS
    items = sources.folder_items(files)
    vocab = ops.label_vocabulary(i.label_name for i in items)
    assert vocab == ["a", "b", "odd"]

    examples, bad, listed = _run_items_listed(_config(root, vocab), items)

    reasons = {r["path"]: r["reason"] for r in bad}
    assert reasons == {path: reason for path, reason in expected.items() if reason}
    # The listing: one row per example, in the examples' order, naming its file.
    assert sorted(r["path"] for r in listed) == sorted(p for p, why in expected.items() if not why)
    assert [(r["sha256"], r["label_name"]) for r in listed] == [
        (
            e.features.feature[features.SHA256_KEY].bytes_list.value[0].decode(),
            e.features.feature[features.LABEL_NAME_KEY].bytes_list.value[0].decode(),
        )
        for e in examples
    ]
    assert {r["split"] for r in listed} == {"train", "eval"}
    written = sorted(
        (e.features.feature[features.LABEL_NAME_KEY].bytes_list.value[0].decode(),
         e.features.feature[features.LABEL_KEY].int64_list.value[0])
        for e in examples
    )  # fmt: skip
    assert written.count(("a", 0)) == 4 and written.count(("b", 1)) == 4
    assert all(label == 2 for name, label in written if name == "odd")
    summary = report.build_report({"*/*": len(items)}, {"train": {"x": len(examples)}}, bad)
    assert summary["reconciled"]
    assert summary["files_seen"] == len(expected) == len(examples) + len(bad)


def test_csv_manifest_paths_are_relative_to_the_manifest_and_missing_files_quarantined(
    tmp_path, imaging
):
    (tmp_path / "lists" / "img").mkdir(parents=True)
    (tmp_path / "lists" / "img" / "one.png").write_bytes(imaging.cases["rgb.png"][0])
    (tmp_path / "lists" / "img" / "two.jpg").write_bytes(imaging.cases["rgb.jpg"][0])
    (tmp_path / "lists" / "train.csv").write_text(
        "path,label\nimg/one.png,cat\nimg/two.jpg,dog\nimg/gone.png,dog\n"
    )
    files = sources.list_files(str(tmp_path), "lists/*.csv")
    assert sources.resolve_input_format(sources.AUTO, files) == sources.CSV
    items = sources.read_manifest(str(tmp_path), files[0])
    assert [(i.path, i.label_name) for i in items] == [
        ("lists/img/one.png", "cat"),
        ("lists/img/two.jpg", "dog"),
        ("lists/img/gone.png", "dog"),
    ]
    examples, bad, listed = _run_items_listed(
        _config(tmp_path, ["cat", "dog"]), items, "lists/*.csv"
    )
    assert len(examples) == 2
    assert [(r["path"], r["split"]) for r in listed] == [
        ("lists/img/one.png", "train"),
        ("lists/img/two.jpg", "train"),
    ]
    assert bad == [
        report.quarantine_record(
            "lists/img/gone.png", ops.MISSING, "file does not exist", "dog", "lists/*.csv"
        )
    ]


def test_csv_manifest_without_the_header_is_an_error_naming_the_file():
    with pytest.raises(ValueError, match=r"m\.csv.*'path' and 'label'"):
        sources.parse_manifest("file,class\na.png,x\n", "m.csv")


def test_fixed_labels_quarantine_unknown_names(tmp_path, imaging):
    (tmp_path / "zebra").mkdir()
    (tmp_path / "zebra" / "z.png").write_bytes(imaging.cases["rgb.png"][0])
    items = sources.folder_items(["zebra/z.png"])
    examples, bad = _run_items(_config(tmp_path, ["cat"], fixed=["cat"]), items)
    assert not examples and bad[0]["reason"] == ops.UNKNOWN_LABEL


@pytest.mark.parametrize("compression", ["", "GZIP"])
def test_tfrecord_input_is_decode_checked_gzip_or_not(tmp_path, imaging, compression):
    good = imaging.cases["gray.png"][0]
    records = [
        _example_bytes(good, label_name="cat"),
        _example_bytes(imaging.cases["truncated.jpg"][0], label_name="dog"),
        _example_bytes(good, label=1),  # integer label only
        _example_bytes(good),  # no label at all
        b"not a protobuf \xff\xff",
    ]
    # A gzip file without a .gz suffix is still read as gzip.
    path = tmp_path / "data.tfrecord"
    with tf.io.TFRecordWriter(str(path), options=compression or None) as writer:
        for r in records:
            writer.write(r)
    assert sources.tfrecord_compression(str(path)) == compression
    assert sources.resolve_input_format(sources.AUTO, ["data.tfrecord"]) == sources.TFRECORD
    items = list(beam_io.tfrecord_items("data.tfrecord", str(tmp_path)))
    assert [i.path for i in items] == [f"data.tfrecord#{k}" for k in range(5)]
    names, not_tfrecords = sources.scan_label_names(
        str(tmp_path), ["data.tfrecord"], sources.TFRECORD, ()
    )
    assert names == {"cat", "dog", "1"} and not_tfrecords == []

    examples, bad, listed = _run_items_listed(
        _config(tmp_path, ["1", "cat", "dog"]), items, "*.tfrecord"
    )
    assert [e.features.feature[features.LABEL_KEY].int64_list.value[0] for e in examples] == [1, 0]
    assert [(r["path"], r["label_name"]) for r in listed] == [
        ("data.tfrecord#0", "cat"),
        ("data.tfrecord#2", "1"),
    ]
    assert [(r["path"], r["reason"], r["label_name"]) for r in bad] == [
        ("data.tfrecord#1", ops.TRUNCATED, "dog"),
        ("data.tfrecord#3", ops.BAD_RECORD, None),
        ("data.tfrecord#4", ops.BAD_RECORD, None),
    ]


def test_damaged_tfrecord_file_yields_one_corrupt_item_after_its_good_records(tmp_path, imaging):
    path = tmp_path / "broken.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(3):
            writer.write(_example_bytes(imaging.cases["rgb.png"][0], label_name="cat"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    items = list(beam_io.tfrecord_items("broken.tfrecord", str(tmp_path)))
    assert len(items) == 3
    assert items[-1].rejected[0] == ops.CORRUPT
    examples, bad = _run_items(_config(tmp_path, ["cat"]), items)
    assert len(examples) == 2 and bad[0]["path"] == "broken.tfrecord#2"
    # Issue 21 item 4: the reason says where and why in plain words, not TensorFlow's text.
    record_bytes = len(_example_bytes(imaging.cases["rgb.png"][0], label_name="cat")) + 16
    assert bad[0]["detail"] == (
        f"TFRecord damaged: 2 records read, the record starting at byte {2 * record_bytes} "
        "cannot be read: the file ends in the middle of that record (cut short while "
        "copying?); any records after it are lost"
    )


def test_a_label_name_that_is_not_utf8_quarantines_its_record_not_the_ingest(tmp_path, imaging):
    """Issue 21 item 4: 'utf-8' codec can't decode byte 0xe9 aborted the whole ingest."""
    good = imaging.cases["rgb.png"][0]
    latin1 = tf.train.Example()
    latin1.features.feature[features.IMAGE_KEY].bytes_list.value.append(good)
    latin1.features.feature[features.LABEL_NAME_KEY].bytes_list.value.append(
        "caf\xe9".encode("latin-1")
    )
    path = tmp_path / "names.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(_example_bytes(good, label_name="cat"))
        writer.write(latin1.SerializeToString())
    names, _ = sources.scan_label_names(str(tmp_path), ["names.tfrecord"], sources.TFRECORD, ())
    assert names == {"cat"}
    items = list(beam_io.tfrecord_items("names.tfrecord", str(tmp_path)))
    examples, bad = _run_items(_config(tmp_path, ["cat"]), items, "*.tfrecord")
    assert len(examples) == 1
    assert [(r["path"], r["reason"]) for r in bad] == [("names.tfrecord#1", ops.UNDECODABLE_NAME)]
    assert "0xe9" in bad[0]["detail"] and "label_name" in bad[0]["detail"]


def test_auto_format_detection():
    assert sources.resolve_input_format(sources.AUTO, ["a/x.png", "b/y.jpg"]) == sources.FOLDERS
    assert sources.resolve_input_format(sources.AUTO, ["x.tfrecord-00000-of-00002"]) == "tfrecord"
    assert sources.resolve_input_format(sources.AUTO, ["m.csv", "n.CSV"]) == sources.CSV
    assert sources.resolve_input_format(sources.CSV, ["anything"]) == sources.CSV
    with pytest.raises(ValueError, match="input_format"):
        sources.resolve_input_format("parquet", ["x"])


@pytest.mark.parametrize(
    "path", ["a/b.png", 'q"uote\\back/x.png', "caf\u00e9/\u732b.png", "n\nl/x.png"]
)
def test_listing_line_is_the_json_of_its_row(path):
    row = {"path": path, "sha256": "ab" * 32, "split": "eval", "label_name": path.split("/")[0]}
    line = listing.listing_line(row["path"], row["sha256"], row["split"], row["label_name"])
    assert line == json.dumps(row) + "\n" and json.loads(line) == row
