import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from contracts import features
from pipeline.image_config import CURATED_SCHEMA
from vrl import cli, image

pytestmark = pytest.mark.slow  # computes TFDV statistics with Beam: not in `make check`


def _load():
    with open(CURATED_SCHEMA) as f:
        return text_format.Parse(f.read(), schema_pb2.Schema())


def _stats(tmp_path, fmt, channels):
    path = str(tmp_path / f"{fmt}.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for i in range(4):
            b = lambda v: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))  # noqa: E731
            n = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))  # noqa: E731
            feats = {
                features.IMAGE_KEY: b(b"\x89PNG..."),
                features.LABEL_KEY: n(i % 2),
                features.LABEL_NAME_KEY: b(b"ab"[i % 2 : i % 2 + 1]),
                features.HEIGHT_KEY: n(32),
                features.WIDTH_KEY: n(40),
                features.CHANNELS_KEY: n(channels),
                features.FORMAT_KEY: b(fmt.encode()),
                features.SHA256_KEY: b(str(i).encode()),
            }
            w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    return tfdv.generate_statistics_from_tfrecord(path)


def test_curated_schema_covers_exactly_the_example_contract():
    assert sorted(f.name for f in _load().feature) == sorted(features.RAW_FEATURE_KEYS)


def test_good_examples_validate_and_drift_is_flagged(tmp_path):
    schema = _load()
    ok = tfdv.validate_statistics(_stats(tmp_path, "png", 3), schema)
    assert not ok.anomaly_info
    drift = tfdv.validate_statistics(_stats(tmp_path, "webp", 5), schema)
    assert set(drift.anomaly_info) == {features.FORMAT_KEY, features.CHANNELS_KEY}


def test_cli_flag_selects_the_shipped_schema():
    args = cli.build_parser().parse_args(["run", "image", "--data", "d", "--curated-schema"])
    assert image.config_from_args(args).schema_path == CURATED_SCHEMA
