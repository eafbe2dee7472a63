"""ImageExampleGen executor end to end: Do() with a real Beam DirectRunner run."""

from __future__ import annotations

import collections
import gzip
import json
import os
import shutil

import pytest
import tensorflow as tf
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as std
from tfx.utils import proto_utils

from components.image_checks import executor as checks_executor
from components.image_checks import keys as checks_keys
from components.image_example_gen import component, executor, ops, report, spec
from contracts import features, files
from vrl import demo_data
from vrl.runner import local_beam_args

pytestmark = pytest.mark.slow  # runs the executor's Beam job per case: not in `make check`

# The local runs' Beam args (none: Beam's defaults; see local_beam_args).
BEAM_ARGS = local_beam_args()


def _props(input_base, input_config, output_config, max_bad_fraction=0.2, **extra):
    props = {
        std.INPUT_BASE_KEY: str(input_base),
        std.INPUT_CONFIG_KEY: proto_utils.proto_to_json(input_config),
        std.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(output_config),
        std.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        std.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        spec.INPUT_FORMAT_KEY: "auto",
        spec.MAX_BAD_FRACTION_KEY: max_bad_fraction,
        spec.MIN_SIDE_KEY: 8,
        spec.MAX_SIDE_KEY: 4096,
        spec.MAX_IMAGE_PIXELS_KEY: 4096 * 4096,
    }
    props.update(extra)
    return props


def _run(out_dir, props):
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(out_dir, "examples")
    quarantine = spec.QuarantineReport()
    quarantine.uri = os.path.join(out_dir, "quarantine")
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=BEAM_ARGS)
    outputs = {spec.EXAMPLES_KEY: [examples], spec.QUARANTINE_KEY: [quarantine]}
    executor.Executor(context).Do({}, outputs, props)
    return examples, quarantine


def _read_split(examples_uri, split):
    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz"))
    assert files, f"no TFRecords for split {split}"
    out = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        out.append(tf.train.Example.FromString(record.numpy()))
    return out


@pytest.fixture(scope="module")
def shapes_with_bad_files(tmp_path_factory, imaging):
    """100 shapes, a duplicate, 2 odd-but-good and 4 bad files (4/107 bad)."""
    root = tmp_path_factory.mktemp("ingest") / "data"
    demo_data.make_shapes(str(root), per_class=20, seed=7)
    shutil.copy(root / "star" / "star_00000.png", root / "star" / "star_copy.png")
    cases = imaging.cases
    for rel, name in [
        ("circle/gray.png", "gray.png"),
        ("square/cmyk.jpg", "cmyk.jpg"),
        ("circle/truncated.jpg", "truncated.jpg"),
        ("cross/empty.png", "empty.png"),
        ("star/notes.png", "text.png"),
        ("triangle/line.png", "line.png"),
    ]:
        (root / rel).write_bytes(cases[name][0])
    return root


@pytest.fixture(scope="module")
def first_run(shapes_with_bad_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("run1")
    props = _props(
        shapes_with_bad_files,
        component.default_input_config(),
        component.default_output_config(eval_fraction=0.3),
    )
    return _run(str(out), props), props


def test_examples_have_the_exact_feature_set_and_a_label_vocab(first_run):
    (examples, _), _ = first_run
    vocab = ops.read_label_vocab(os.path.join(examples.uri, features.LABEL_VOCAB_FILENAME))
    assert vocab == list(demo_data.SHAPE_CLASSES)
    assert json.loads(examples.split_names) == ["train", "eval"]
    rows = _read_split(examples.uri, "train") + _read_split(examples.uri, "eval")
    assert len(rows) == 103
    for ex in rows:
        fmap = ex.features.feature
        assert sorted(fmap) == sorted(features.RAW_FEATURE_KEYS)
        name = fmap[features.LABEL_NAME_KEY].bytes_list.value[0].decode()
        assert vocab[fmap[features.LABEL_KEY].int64_list.value[0]] == name
        image = fmap[features.IMAGE_KEY].bytes_list.value[0]
        decoded = tf.io.decode_image(image, channels=0, expand_animations=False)
        assert tuple(decoded.shape) == (
            fmap[features.HEIGHT_KEY].int64_list.value[0],
            fmap[features.WIDTH_KEY].int64_list.value[0],
            fmap[features.CHANNELS_KEY].int64_list.value[0],
        )
    formats = {ex.features.feature[features.FORMAT_KEY].bytes_list.value[0] for ex in rows}
    assert formats == {b"png", b"jpeg"}
    channels = {ex.features.feature[features.CHANNELS_KEY].int64_list.value[0] for ex in rows}
    assert channels == {1, 3}  # the grayscale file among RGB ones


def test_quarantine_report_names_each_bad_file_and_counts_reconcile(first_run):
    (examples, quarantine), _ = first_run
    with open(os.path.join(quarantine.uri, spec.QUARANTINE_FILENAME)) as f:
        bad = [json.loads(line) for line in f]
    assert {(r["path"], r["reason"]) for r in bad} == {
        ("circle/truncated.jpg", ops.TRUNCATED),
        ("cross/empty.png", ops.EMPTY),
        ("star/notes.png", ops.NOT_AN_IMAGE),
        ("triangle/line.png", ops.ABSURD_DIMENSIONS),
    }
    with open(os.path.join(quarantine.uri, files.INGEST_REPORT_FILE)) as f:
        ingest = json.load(f)
    assert ingest["files_seen"] == 107 == ingest["examples_written"] + ingest["quarantined"]
    assert ingest["reconciled"] and ingest["quarantined"] == 4
    assert sum(ingest["examples_per_split"].values()) == 103
    assert ingest["quarantined_per_class"] == {"circle": 1, "cross": 1, "star": 1, "triangle": 1}
    assert quarantine.get_int_custom_property("files_seen") == 107
    assert examples.get_int_custom_property("quarantined") == 4
    assert not os.path.exists(os.path.join(quarantine.uri, "_staging"))


def _read_listing(examples_uri):
    with tf.io.gfile.GFile(os.path.join(examples_uri, files.EXAMPLE_LISTING_FILE), "rb") as f:
        return [json.loads(line) for line in gzip.decompress(f.read()).decode().splitlines()]


def test_example_listing_names_each_written_example_and_reconciles_per_split(first_run):
    (examples, quarantine), _ = first_run
    rows = _read_listing(examples.uri)
    with open(os.path.join(quarantine.uri, files.INGEST_REPORT_FILE)) as f:
        ingest = json.load(f)
    assert len(rows) == ingest["examples_written"] == 103
    assert collections.Counter(r["split"] for r in rows) == ingest["examples_per_split"]
    for split in ("train", "eval"):
        written = [
            ex.features.feature[features.SHA256_KEY].bytes_list.value[0].decode()
            for ex in _read_split(examples.uri, split)
        ]
        assert sorted(r["sha256"] for r in rows if r["split"] == split) == sorted(written)
    paths = [r["path"] for r in rows]
    assert paths == sorted(paths) and len(set(paths)) == 103
    assert {"star/star_00000.png", "star/star_copy.png", "circle/gray.png"} <= set(paths)
    assert "star/notes.png" not in paths  # quarantined
    copies = [r for r in rows if r["path"] in ("star/star_00000.png", "star/star_copy.png")]
    assert copies[0]["sha256"] == copies[1]["sha256"] and copies[0]["label_name"] == "star"


def test_image_checks_names_the_duplicated_files_from_this_listing(first_run, tmp_path):
    """The two sides of the listing agree: ImageChecks on these very Examples."""
    (examples, _), _ = first_run
    out = standard_artifacts.ExampleAnomalies()
    out.uri = str(tmp_path / "checks")
    checks_executor.Executor().Do(
        {checks_keys.EXAMPLES: [examples]},
        {checks_keys.IMAGE_ANOMALIES: [out]},
        {checks_keys.CONFIG: "{}", checks_keys.HALT_ON_ANOMALIES: 0},
    )
    with open(os.path.join(out.uri, files.IMAGE_CHECKS_FILE)) as f:
        (duplicate,) = [i for i in json.load(f)["issues"] if i["kind"] == "duplicate_images"]
    assert "e.g. star/star_00000.png and star/star_copy.png, sha256 " in duplicate["description"]


def test_hash_split_is_near_the_ratio_keeps_duplicates_together_and_repeats(first_run, tmp_path):
    (examples, _), props = first_run

    def assignment(uri):
        return {
            ex.features.feature[features.SHA256_KEY].bytes_list.value[0]: split
            for split in ("train", "eval")
            for ex in _read_split(uri, split)
        }

    first = assignment(examples.uri)
    evals = _read_split(examples.uri, "eval")
    assert 0.15 <= len(evals) / 103 <= 0.45
    # The duplicated star is one hash, so both copies sit in the same split.
    assert len(first) == 102
    second_examples, _ = _run(str(tmp_path), props)
    assert assignment(second_examples.uri) == first


def test_too_many_bad_files_fails_naming_them(shapes_with_bad_files, tmp_path):
    props = _props(
        shapes_with_bad_files,
        component.default_input_config(),
        component.default_output_config(),
        max_bad_fraction=0.01,
    )
    with pytest.raises(report.TooManyBadFilesError) as err:
        _run(str(tmp_path), props)
    message = str(err.value)
    assert "4 of 107" in message
    for path in ("circle/truncated.jpg", "cross/empty.png", "star/notes.png", "triangle/line.png"):
        assert path in message


def _write_records(path, images_and_labels, gzip):
    with tf.io.TFRecordWriter(str(path), options="GZIP" if gzip else None) as writer:
        for image, label in images_and_labels:
            ex = ops.build_example(image, ops.check_image(image), 99, label) if label else None
            writer.write(ex.SerializeToString() if ex else b"garbage")


def test_tfrecord_input_splits_share_one_vocabulary(tmp_path, imaging):
    png, jpg = imaging.cases["rgb.png"][0], imaging.cases["gray.jpg"][0]
    (tmp_path / "in" / "train").mkdir(parents=True)
    (tmp_path / "in" / "eval").mkdir()
    _write_records(tmp_path / "in/train/a.tfrecord.gz", [(png, "zebra"), (jpg, "ant")], True)
    _write_records(tmp_path / "in/eval/b.tfrecord", [(jpg, "zebra"), (png, None)], False)
    input_config = example_gen_pb2.Input(
        splits=[
            example_gen_pb2.Input.Split(name="train", pattern="train/*"),
            example_gen_pb2.Input.Split(name="eval", pattern="eval/*"),
        ]
    )
    examples, quarantine = _run(
        str(tmp_path / "out"), _props(tmp_path / "in", input_config, example_gen_pb2.Output(), 0.5)
    )
    vocab = ops.read_label_vocab(os.path.join(examples.uri, features.LABEL_VOCAB_FILENAME))
    assert vocab == ["ant", "zebra"]
    (evaluated,) = _read_split(examples.uri, "eval")
    assert evaluated.features.feature[features.LABEL_KEY].int64_list.value == [1]
    assert len(_read_split(examples.uri, "train")) == 2
    with open(os.path.join(quarantine.uri, spec.QUARANTINE_FILENAME)) as f:
        assert [json.loads(line)["path"] for line in f] == ["eval/b.tfrecord#1"]
    assert [(r["path"], r["split"], r["label_name"]) for r in _read_listing(examples.uri)] == [
        ("eval/b.tfrecord#0", "eval", "zebra"),
        ("train/a.tfrecord.gz#0", "train", "zebra"),
        ("train/a.tfrecord.gz#1", "train", "ant"),
    ]
