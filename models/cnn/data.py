"""Trainer input pipeline: Transform's materialised examples -> batches.

Transform materialises every split once (decode, EXIF orientation, resize,
crop, in Beam: on Dataflow or Flink workers at scale), as uint8 pixels of the
model's input size. The Trainer therefore never decodes a JPEG: it parses
records in large batches (vectorised `parse_example`), caches the uint8
pixels (a quarter of float32) when they fit the budget, and scales whole
batches to float32 after the cache.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from contracts import features
from contracts.files import DATA_IDENTITY_FILE
from models import tfdata
from models.cnn.preprocessing import IMAGE_XF_KEY, LABEL_XF_KEY, decode_pixels, to_unit_range

# Records parsed per call; large enough to amortise the per-call overhead,
# small enough to bound memory.
PARSE_BATCH = 256
MAX_SHUFFLE_BUFFER = 10_000


def list_files(file_patterns: Iterable[str]) -> list[str]:
    """Expands TFX file patterns (`<split_uri>/*`) into a sorted file list."""
    patterns = list(file_patterns)
    files = sorted({f for p in patterns for f in tf.io.gfile.glob(p)})
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {patterns}; expected gzip TFRecords")
    return files


def _at_examples_roots(file_patterns: Iterable[str], name: str) -> list[str]:
    """`name` at each Examples root: the parent of a pattern's `Split-*` folder."""
    paths = []
    for pattern in file_patterns:
        split_dir = os.path.dirname(pattern.rstrip("/")) if "*" in pattern else pattern
        paths.append(os.path.join(os.path.dirname(split_dir.rstrip("/")), name))
    return paths


def find_label_vocab(file_patterns: Iterable[str]) -> str:
    """Finds label_vocab.txt at the Examples root: the parent of the `Split-*` folder."""
    looked = _at_examples_roots(file_patterns, features.LABEL_VOCAB_FILENAME)
    for candidate in looked:
        if tf.io.gfile.exists(candidate):
            return candidate
    raise FileNotFoundError(
        f"{features.LABEL_VOCAB_FILENAME} not found; looked at {looked}. ImageExampleGen writes it "
        "at the root of the Examples artifact, next to the Split-* folders, and the pipeline's "
        "Transform (components.image_transform) copies it beside the transformed examples"
    )


def read_data_identity(file_patterns: Iterable[str]) -> dict[str, str]:
    """The span, version and fingerprint of the data the examples came from
    (`data_identity.json`, written by the pipeline's ImageTransform at the Examples
    root); {} for examples written without it."""
    for path in _at_examples_roots(file_patterns, DATA_IDENTITY_FILE):
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as f:
                return {str(k): str(v) for k, v in json.load(f).items()}
    return {}


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


def _transformed_spec(
    tf_transform_output: tft.TFTransformOutput, with_label: bool
) -> dict[str, tf.io.FixedLenFeature]:
    """The materialised features the Trainer reads, from the transform graph's own spec."""
    spec = tf_transform_output.transformed_feature_spec()
    keys = [IMAGE_XF_KEY] + ([LABEL_XF_KEY] if with_label else [])
    missing = [k for k in keys if k not in spec]
    if missing:
        raise ValueError(
            f"transformed feature spec of the transform graph lacks {missing}; has "
            f"{sorted(spec)}. Expected the graph of models.cnn.preprocessing.preprocessing_fn"
        )
    return {k: spec[k] for k in keys}


def _records(file_patterns: Iterable[str], max_records: int | None = None) -> tf.data.Dataset:
    """The TFRecords of these patterns; like `records_dataset`, this module's other
    source, without tf.data's autotune thread (`models.tfdata`)."""
    files = list_files(file_patterns)
    ds = tfdata.tfrecords(files, "GZIP", num_parallel_reads=min(len(files), 8))
    return ds.take(max_records) if max_records else ds


def image_shape(
    file_patterns: Iterable[str], tf_transform_output: tft.TFTransformOutput
) -> tuple[int, int, int]:
    """(S, S, 3) of the materialised images, read off the first transformed example."""
    spec = _transformed_spec(tf_transform_output, with_label=False)
    for record in _records(file_patterns, 1):
        try:
            encoded = tf.io.parse_single_example(record, spec)[IMAGE_XF_KEY]
        except tf.errors.InvalidArgumentError as e:
            raise ValueError(
                f"{list(file_patterns)}: not Transform's materialised examples ({e.message}); "
                "feed the Trainer the Transform's transformed_examples output"
            ) from None
        shape = tuple(int(d) for d in tf.io.parse_tensor(encoded, tf.uint8).shape)
        if len(shape) != 3 or shape[0] != shape[1] or shape[2] != 3:
            raise ValueError(
                f"{list(file_patterns)}: expected {IMAGE_XF_KEY} to hold [S, S, 3] uint8 "
                f"pixels, got shape {shape}"
            )
        return shape  # type: ignore[return-value]
    raise ValueError(f"{list(file_patterns)} holds no transformed examples")


def pixel_dataset(
    file_patterns: Iterable[str],
    tf_transform_output: tft.TFTransformOutput,
    shape: Iterable[int],
    with_label: bool = True,
    max_records: int | None = None,
) -> tf.data.Dataset:
    """Unbatched (uint8 [S, S, 3] pixels, label) pairs from Transform's materialised examples."""
    return _parsed(_records(file_patterns, max_records), tf_transform_output, shape, with_label)


def _parsed(
    records: tf.data.Dataset,
    tf_transform_output: tft.TFTransformOutput,
    shape: Iterable[int],
    with_label: bool,
) -> tf.data.Dataset:
    """Unbatched (pixels, label) pairs parsed from serialized transformed examples."""
    spec = _transformed_spec(tf_transform_output, with_label)
    shape = tuple(shape)

    @tf.autograph.experimental.do_not_convert
    def parse(serialized: tf.Tensor):
        parsed = tf.io.parse_example(serialized, spec)
        pixels = decode_pixels(parsed[IMAGE_XF_KEY], shape)
        if not with_label:
            return pixels
        return pixels, tf.reshape(parsed[LABEL_XF_KEY], [-1])

    ds = records.batch(PARSE_BATCH)
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()


def sample_records(file_patterns: Iterable[str], count: int, seed: int) -> list[bytes]:
    """`count` serialized records drawn uniformly from all of `file_patterns` (fewer when
    there are fewer), in random order; one pass over the serialized records, no parsing.

    Ingest writes a class-per-folder tree in class order, so the first records of a
    split may all be one class; a uniform sample is not.
    """
    rng = np.random.default_rng(seed)
    kept_keys = np.empty(0)
    kept: list[bytes] = []
    for batch in _records(file_patterns).batch(PARSE_BATCH).as_numpy_iterator():
        keys = np.concatenate([kept_keys, rng.random(len(batch))])
        items = kept + [bytes(record) for record in batch]
        order = np.argsort(keys, kind="stable")[:count]  # the smallest keys: a uniform sample
        kept_keys, kept = keys[order], [items[i] for i in order]
    return kept


def records_dataset(
    records: list[bytes],
    tf_transform_output: tft.TFTransformOutput,
    shape: Iterable[int],
) -> tf.data.Dataset:
    """Unbatched (float32 [S, S, 3] in [0, 1], label) pairs of these serialized records."""
    source = tfdata.without_autotune_thread(tf.data.Dataset.from_tensor_slices(records))
    ds = _parsed(source, tf_transform_output, shape, True)
    return ds.map(_to_model_input, num_parallel_calls=tf.data.AUTOTUNE)


def _to_model_input(pixels: tf.Tensor, *rest: tf.Tensor):
    return (to_unit_range(pixels), *rest) if rest else to_unit_range(pixels)


def transformed_dataset(
    file_patterns: Iterable[str],
    tf_transform_output: tft.TFTransformOutput,
    shape: Iterable[int],
    with_label: bool = True,
    max_records: int | None = None,
) -> tf.data.Dataset:
    """Unbatched (float32 [S, S, 3] in [0, 1], label) pairs: what the model is fed."""
    ds = pixel_dataset(file_patterns, tf_transform_output, shape, with_label, max_records)
    return ds.map(_to_model_input, num_parallel_calls=tf.data.AUTOTUNE)


def training_dataset(
    file_patterns: Iterable[str],
    tf_transform_output: tft.TFTransformOutput,
    shape: Iterable[int],
    batch_size: int,
    shuffle: bool = True,
    repeat: bool = False,
    seed: int | None = None,
    cache: bool = True,
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """The Trainer's batched dataset: parse once, cache uint8, shuffle, batch, scale, prefetch.

    Args:
      file_patterns: gzip TFRecord patterns of Transform's materialised examples
        (`fn_args.train_files`).
      tf_transform_output: the Transform graph (its transformed feature spec).
      shape: (S, S, 3) of the images (`image_shape`).
      batch_size: global batch size.
      shuffle: reshuffle every epoch (off for evaluation).
      repeat: repeat forever (when the Trainer counts steps, not epochs).
      seed: shuffle seed.
      cache: keep the uint8 pixels in memory after the first pass.
      shuffle_buffer: examples in the shuffle buffer (default: up to 10k).
    """
    ds = pixel_dataset(file_patterns, tf_transform_output, shape)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(
            shuffle_buffer or MAX_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        ds = ds.repeat()
    # Scaling whole batches after the cache keeps the cache at 1 byte per value.
    ds = ds.batch(batch_size).map(_to_model_input, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def read_labels(file_patterns: Iterable[str]) -> np.ndarray:
    """Every label id of a transformed split, parsing only the label feature."""
    spec = {LABEL_XF_KEY: tf.io.FixedLenFeature([], tf.int64)}
    ds = _records(file_patterns).batch(PARSE_BATCH)
    ds = ds.map(lambda r: tf.io.parse_example(r, spec)[LABEL_XF_KEY])
    parts = [batch.numpy() for batch in ds]
    return np.concatenate(parts) if parts else np.zeros([0], np.int64)


def decoded_megabytes(examples: int, image_shape: Iterable[int]) -> float:
    """Memory of `examples` decoded uint8 images of `image_shape` (the cache), in MB."""
    return examples * int(np.prod(list(image_shape))) / 2**20


def take_arrays(ds: tf.data.Dataset, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` (image, label) pairs of an unbatched dataset as numpy arrays."""
    images, labels = next(iter(ds.batch(count).take(1)))
    return images.numpy(), labels.numpy()


def png_images(
    file_patterns: Iterable[str],
    tf_transform_output: tft.TFTransformOutput,
    shape: Iterable[int],
    count: int,
) -> list[bytes]:
    """The first `count` transformed images of a split, PNG-encoded (as the model saw them)."""
    ds = pixel_dataset(file_patterns, tf_transform_output, shape, with_label=False)
    return [tf.io.encode_png(pixels).numpy() for pixels in ds.take(count)]
