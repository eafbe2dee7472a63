"""The sanity checks' sample is drawn from the whole training split, not its head:
ingest writes class folders in order, so the first records may all be one class."""

import tensorflow as tf

from models.cnn import data


def _write(path, records):
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for record in records:
            writer.write(record)


def test_sample_spans_the_whole_split_in_random_order_and_repeats_with_its_seed(tmp_path):
    # Two files, as Transform writes shards; 1,000 records in "class order".
    records = [f"{i:04d}".encode() for i in range(1000)]
    _write(tmp_path / "a.gz", records[:600])
    _write(tmp_path / "b.gz", records[600:])
    pattern = [str(tmp_path / "*.gz")]

    sample = data.sample_records(pattern, 100, seed=3)

    positions = [int(r) for r in sample]
    assert len(set(positions)) == 100
    # Each tenth of the split (each "class") is represented.
    assert {p // 100 for p in positions} == set(range(10))
    assert positions != sorted(positions)  # not in file order: any prefix is mixed too
    assert len({p // 100 for p in positions[:16]}) >= 4
    assert data.sample_records(pattern, 100, seed=3) == sample
    assert data.sample_records(pattern, 100, seed=4) != sample


def test_a_split_smaller_than_the_sample_is_taken_whole(tmp_path):
    _write(tmp_path / "a.gz", [b"x", b"y", b"z"])
    assert sorted(data.sample_records([str(tmp_path / "a.gz")], 256, seed=0)) == [b"x", b"y", b"z"]
