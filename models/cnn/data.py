"""Trainer input pipeline: raw gzip TFRecords -> transform graph -> batches.

Transform runs with `materialize=False`, so the Trainer reads the raw
examples and applies the transform graph itself. Decoding is the expensive
part, so it happens once: records are parsed and transformed in large
batches (vectorised `parse_example`, one transform call per batch), then
cached as decoded tensors; later epochs only shuffle and batch the cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from models.cnn import features
from models.cnn.preprocessing import IMAGE_XF_KEY, LABEL_XF_KEY

# Records parsed and transformed per call; large enough to amortise the
# per-call overhead of the transform graph, small enough to bound memory.
TRANSFORM_BATCH = 256
MAX_SHUFFLE_BUFFER = 10_000


def list_files(file_patterns: Iterable[str]) -> list[str]:
    """Expands TFX file patterns (`<split_uri>/*`) into a sorted file list."""
    patterns = list(file_patterns)
    files = sorted({f for p in patterns for f in tf.io.gfile.glob(p)})
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {patterns}; expected gzip TFRecords")
    return files


def find_label_vocab(file_patterns: Iterable[str]) -> str:
    """Finds label_vocab.txt at the Examples root: the parent of the `Split-*` folder."""
    looked = []
    for pattern in file_patterns:
        split_dir = os.path.dirname(pattern.rstrip("/")) if "*" in pattern else pattern
        candidate = os.path.join(
            os.path.dirname(split_dir.rstrip("/")), features.LABEL_VOCAB_FILENAME
        )
        looked.append(candidate)
        if tf.io.gfile.exists(candidate):
            return candidate
    raise FileNotFoundError(
        f"{features.LABEL_VOCAB_FILENAME} not found; looked at {looked}. ImageExampleGen writes it "
        "at the root of the Examples artifact, next to the Split-* folders"
    )


def read_label_vocab(path: str) -> list[str]:
    """Class names, one per line; line index = label id."""
    with tf.io.gfile.GFile(path) as f:
        names = [line.rstrip("\n") for line in f]
    while names and not names[-1]:
        names.pop()
    if len(names) < 2 or any(not n for n in names):
        raise ValueError(
            f"{path}: expected at least 2 non-empty class names, one per line, got {names!r}"
        )
    return names


def _parse_and_transform_fn(tf_transform_output: tft.TFTransformOutput, with_label: bool):
    raw_spec = tf_transform_output.raw_feature_spec()
    keys = [features.IMAGE_KEY] + ([features.LABEL_KEY] if with_label else [])
    missing = [k for k in keys if k not in raw_spec]
    if missing:
        raise ValueError(
            f"raw feature spec of the transform graph lacks {missing}; has {sorted(raw_spec)}"
        )
    spec = {k: raw_spec[k] for k in keys}
    tft_layer = tf_transform_output.transform_features_layer()

    @tf.autograph.experimental.do_not_convert
    def parse_and_transform(serialized: tf.Tensor):
        raw = tf.io.parse_example(serialized, spec)
        transformed = tft_layer(raw)
        image = transformed[IMAGE_XF_KEY]
        if not with_label:
            return image
        return image, tf.reshape(transformed[LABEL_XF_KEY], [-1])

    return parse_and_transform


def transformed_dataset(
    file_patterns: Iterable[str],
    tf_transform_output: tft.TFTransformOutput,
    with_label: bool = True,
    max_records: int | None = None,
) -> tf.data.Dataset:
    """Unbatched (image, label) pairs: raw records through the transform graph."""
    files = list_files(file_patterns)
    ds = tf.data.TFRecordDataset(
        files, compression_type="GZIP", num_parallel_reads=min(len(files), 8)
    )
    if max_records:
        ds = ds.take(max_records)
    ds = ds.batch(TRANSFORM_BATCH).map(
        _parse_and_transform_fn(tf_transform_output, with_label),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.unbatch()


def training_dataset(
    file_patterns: Iterable[str],
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle: bool = True,
    repeat: bool = False,
    seed: int | None = None,
    cache: bool = True,
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """The Trainer's batched dataset: transform once, cache, shuffle, batch, prefetch.

    Args:
      file_patterns: gzip TFRecord patterns (`fn_args.train_files`).
      tf_transform_output: the Transform graph.
      batch_size: global batch size.
      shuffle: reshuffle every epoch (off for evaluation).
      repeat: repeat forever (when the Trainer counts steps, not epochs).
      seed: shuffle seed.
      cache: keep decoded images in memory after the first pass.
      shuffle_buffer: examples in the shuffle buffer (default: up to 10k).
    """
    ds = transformed_dataset(file_patterns, tf_transform_output)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(
            shuffle_buffer or MAX_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def read_labels(file_patterns: Iterable[str]) -> np.ndarray:
    """Every label id of a split, parsing only the label feature (no image decoding)."""
    spec = {features.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    ds = tf.data.TFRecordDataset(list_files(file_patterns), compression_type="GZIP")
    ds = ds.batch(TRANSFORM_BATCH).map(lambda r: tf.io.parse_example(r, spec)[features.LABEL_KEY])
    parts = [batch.numpy() for batch in ds]
    return np.concatenate(parts) if parts else np.zeros([0], np.int64)


def decoded_megabytes(examples: int, image_shape: Iterable[int]) -> float:
    """Memory of `examples` decoded float32 images of `image_shape`, in MB."""
    return examples * int(np.prod(list(image_shape))) * 4 / 2**20


def take_arrays(ds: tf.data.Dataset, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` (image, label) pairs of an unbatched dataset as numpy arrays."""
    images, labels = next(iter(ds.batch(count).take(1)))
    return images.numpy(), labels.numpy()


def raw_images(file_patterns: Iterable[str], count: int) -> list[bytes]:
    """The first `count` encoded images (the `image` feature, bytes as on disk)."""
    from models.cnn.features import IMAGE_KEY

    ds = tf.data.TFRecordDataset(list_files(file_patterns), compression_type="GZIP").take(count)
    spec = {IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
    return [tf.io.parse_single_example(r, spec)[IMAGE_KEY].numpy() for r in ds]
