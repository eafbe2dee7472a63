"""Small Examples artifacts and transform graphs for tests and benchmarks.

Writes exactly the layout ImageExampleGen produces (gzip TFRecords of
tf.Example under `Split-train/` and `Split-eval/`, `label_vocab.txt` at the
root) and builds a real Transform graph with `tensorflow_transform.beam`, so
`run_fn` can be exercised without running a pipeline.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from contracts import features
from models.cnn.preprocessing import preprocessing_fn

COLOUR_CLASSES = ("red", "green", "blue")
_COLOUR_RGB = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 50, 220)}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def encode_image(pixels: np.ndarray, fmt: str = "png") -> bytes:
    """Encodes uint8 [H, W] (gray), [H, W, 3] (RGB) or [H, W, 4] (RGBA) as PNG or JPEG."""
    image = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    if fmt == "jpeg" and image.mode == "RGBA":
        raise ValueError("JPEG cannot store an alpha channel; encode RGBA as png")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG" if fmt == "jpeg" else "PNG")
    return buffer.getvalue()


def make_example(image_bytes: bytes, label: int, label_name: str) -> tf.train.Example:
    """A tf.Example with every raw feature in `features.RAW_FEATURE_KEYS`."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        width, height = image.size
        channels = len(image.getbands())
        fmt = (image.format or "").lower()

    def _bytes(v: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def _int(v: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                features.IMAGE_KEY: _bytes(image_bytes),
                features.LABEL_KEY: _int(label),
                features.LABEL_NAME_KEY: _bytes(label_name.encode()),
                features.HEIGHT_KEY: _int(height),
                features.WIDTH_KEY: _int(width),
                features.CHANNELS_KEY: _int(channels),
                features.FORMAT_KEY: _bytes(fmt.encode()),
                features.SHA256_KEY: _bytes(hashlib.sha256(image_bytes).hexdigest().encode()),
            }
        )
    )


def raw_feature_spec() -> dict[str, tf.io.FixedLenFeature]:
    """The raw spec SchemaGen infers with infer_feature_shape=True: every feature dense [1]."""
    ints = {features.LABEL_KEY, features.HEIGHT_KEY, features.WIDTH_KEY, features.CHANNELS_KEY}
    return {
        k: tf.io.FixedLenFeature([1], tf.int64 if k in ints else tf.string)
        for k in features.RAW_FEATURE_KEYS
    }


def colour_images(count: int, seed: int = 0) -> list[tuple[bytes, int]]:
    """`count` noisy squares of three colour classes, in PNG/JPEG, RGB/RGBA, varied sizes."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        label = i % len(COLOUR_CLASSES)
        h, w = (int(v) for v in rng.integers(12, 40, size=2))
        base = np.array(_COLOUR_RGB[COLOUR_CLASSES[label]], dtype=np.float64)
        pixels = np.clip(base + rng.normal(0, 20, size=(h, w, 3)), 0, 255).astype(np.uint8)
        if i % 5 == 4:
            alpha = np.full((h, w, 1), 255, dtype=np.uint8)
            out.append((encode_image(np.concatenate([pixels, alpha], axis=-1), "png"), label))
        else:
            out.append((encode_image(pixels, "jpeg" if i % 2 else "png"), label))
    return out


def write_examples_artifact(
    examples_uri: str,
    splits: dict[str, Sequence[tuple[bytes, int]]],
    label_names: Sequence[str],
) -> None:
    """Writes `<uri>/Split-<name>/data.tfrecord.gz` per split and `<uri>/label_vocab.txt`."""
    for split, items in splits.items():
        split_dir = os.path.join(examples_uri, f"Split-{split}")
        os.makedirs(split_dir, exist_ok=True)
        path = os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for image_bytes, label in items:
                writer.write(
                    make_example(image_bytes, label, label_names[label]).SerializeToString()
                )
    with open(os.path.join(examples_uri, features.LABEL_VOCAB_FILENAME), "w") as f:
        f.write("".join(f"{name}\n" for name in label_names))


def read_class_folders(root: str) -> tuple[list[tuple[bytes, int]], list[str]]:
    """Reads a class-per-folder image tree (sorted class names = label ids)."""
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    items = []
    for label, name in enumerate(names):
        for fname in sorted(os.listdir(os.path.join(root, name))):
            if fname.lower().endswith(IMAGE_SUFFIXES):
                with open(os.path.join(root, name, fname), "rb") as f:
                    items.append((f.read(), label))
    return items, names


def hash_split(
    items: Iterable[tuple[bytes, int]], eval_fraction: float = 0.2
) -> dict[str, list[tuple[bytes, int]]]:
    """Deterministic train/eval split by content hash (like ImageExampleGen's)."""
    splits: dict[str, list[tuple[bytes, int]]] = {"train": [], "eval": []}
    for image_bytes, label in items:
        bucket = int(hashlib.sha256(image_bytes).hexdigest()[:8], 16) / 16**8
        splits["eval" if bucket < eval_fraction else "train"].append((image_bytes, label))
    return splits


def _raw_instances(examples_uri: str, split: str) -> list[dict]:
    """The raw examples of one split as TFT instance dicts."""
    spec = raw_feature_spec()
    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    instances = []
    for parsed in records.batch(256).map(lambda s: tf.io.parse_example(s, spec)):
        columns = {k: v.numpy() for k, v in parsed.items()}
        n = len(columns[features.IMAGE_KEY])
        instances.extend({k: list(columns[k][i]) for k in spec} for i in range(n))
    return instances


def build_transform_graph(
    examples_uri: str, transform_output_dir: str, image_size: int = 32
) -> str:
    """Runs `preprocessing_fn` through tft_beam over the train split; writes the transform graph."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    spec = raw_feature_spec()
    instances = _raw_instances(examples_uri, "train")
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))

    def _fn(inputs):
        return preprocessing_fn(inputs, {"image_size": image_size})

    with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp):
        with beam.Pipeline() as pipeline:
            transform_fn = (
                pipeline | beam.Create(instances),
                metadata,
            ) | tft_beam.AnalyzeDataset(_fn)
            _ = transform_fn | tft_beam.WriteTransformFn(transform_output_dir)
    # TFX Transform also saves the raw schema; the Trainer reads the raw spec from it.
    metadata_io.write_metadata(
        metadata, os.path.join(transform_output_dir, tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    return transform_output_dir


def materialize_examples(examples_uri: str, transform_output_dir: str, output_uri: str) -> str:
    """What the pipeline's Transform materialises: every split through the transform graph.

    Applies the saved transform graph with `tft_beam.TransformDataset`, encodes
    with TFT's `ExampleProtoCoder` into gzip TFRecords under
    `<output_uri>/Split-<name>/`, and copies `label_vocab.txt` as ImageTransform
    does. Returns `output_uri`.
    """
    import shutil

    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    spec = raw_feature_spec()
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    transform_output = tft.TFTransformOutput(transform_output_dir)
    coder = tft.coders.ExampleProtoCoder(
        schema_utils.schema_from_feature_spec(transform_output.transformed_feature_spec())
    )
    splits = sorted(d[len("Split-") :] for d in os.listdir(examples_uri) if d.startswith("Split-"))
    with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp):
        with beam.Pipeline() as pipeline:
            transform_fn = pipeline | tft_beam.ReadTransformFn(transform_output_dir)
            for split in splits:
                split_dir = os.path.join(output_uri, f"Split-{split}")
                os.makedirs(split_dir, exist_ok=True)
                raw = (
                    pipeline | f"Create{split}" >> beam.Create(_raw_instances(examples_uri, split)),
                    metadata,
                )
                transformed, _ = (
                    raw,
                    transform_fn,
                ) | f"Transform{split}" >> tft_beam.TransformDataset()
                _ = (
                    transformed
                    | f"Encode{split}" >> beam.Map(coder.encode)
                    | f"Write{split}"
                    >> beam.io.WriteToTFRecord(
                        os.path.join(split_dir, "transformed_examples"), file_name_suffix=".gz"
                    )
                )
    shutil.copy(
        os.path.join(examples_uri, features.LABEL_VOCAB_FILENAME),
        os.path.join(output_uri, features.LABEL_VOCAB_FILENAME),
    )
    return output_uri
