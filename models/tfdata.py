"""tf.data without the autotune thread, for every dataset the product iterates.

tf.data's autotuner runs one thread per iterator that re-optimizes on a
period doubling up to 60 s, and in TensorFlow 2.16 destroying an iterator
often waits out the period in progress: the Trainer's `Model.fit` returned
4-17 s after its last epoch (tf.data's own log: "Waiting for 4340 ms"), and
bench/data_teardown.py's 30 s iterations took 10.9 s to tear down in two
rounds of three, none without the thread. Without it, each `AUTOTUNE` map
starts at min(16, cores) parallel calls (tf.data's initial value) and a
`prefetch(AUTOTUNE)` buffer grows with tf.data's legacy prefetch tuner.
"""

from __future__ import annotations

import tensorflow as tf


def without_autotune_thread(ds: tf.data.Dataset) -> tf.data.Dataset:
    """`ds`, and every dataset built on it (options reach downstream), without the thread."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def tfrecords(
    files: str | list[str], compression_type: str | None = None, **kwargs
) -> tf.data.Dataset:
    """`tf.data.TFRecordDataset(files, compression_type, **kwargs)` without the thread."""
    return without_autotune_thread(
        tf.data.TFRecordDataset(files, compression_type=compression_type, **kwargs)
    )
