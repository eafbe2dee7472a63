"""Tiny served-traffic fixtures for `vrl monitor` and the report's production section:
a colour classifier pushed with provenance naming a span of ImageExampleGen's own
tf.Examples, traffic like that span or shifted from it, and request logs written
by hand the way `vrl serve` publishes them (serving/request_log.py's own
PredictionLog builder, its file naming), so no server has to run."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import tensorflow as tf

from components.atomic_pusher.ops import atomic_push
from components.image_example_gen.ops import build_example, check_image
from contracts import features
from contracts.serving_base import PROVENANCE_FILE
from serving.request_log import prediction_log
from serving.request_log_file import SUFFIX

CLASSES = ("red", "green", "blue")


class ColourModel(tf.Module):
    """Predicts the dominant colour channel: the classes depend on the input."""

    def __init__(self) -> None:
        super().__init__()
        self.labels = tf.constant(CLASSES)

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.SERVING_INPUT_KEY)]
    )
    def serve(self, image_bytes):
        def mean(b):
            image = tf.io.decode_image(b, channels=3, expand_animations=False)
            return tf.reduce_mean(tf.cast(image, tf.float32) / 255.0, axis=[0, 1])

        means = tf.map_fn(mean, image_bytes, fn_output_signature=tf.float32)
        probabilities = tf.nn.softmax(8.0 * means)
        class_ids = tf.argmax(probabilities, axis=1)
        return {
            features.OUTPUT_PROBABILITIES: probabilities,
            features.OUTPUT_CLASS_IDS: class_ids,
            features.OUTPUT_LABEL_NAMES: tf.gather(self.labels, class_ids),
        }

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.EXAMPLES_INPUT_KEY)]
    )
    def serve_examples(self, examples):
        """The same on serialized tf.Examples (TFMA's and BulkInferrer's way in)."""
        spec = {features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
        return self.serve(tf.io.parse_example(examples, spec)[features.IMAGE_KEY])

    def signatures(self) -> dict:
        """Both signatures, named as a pushed CNN names them."""
        return {"serving_default": self.serve, features.EXAMPLES_SIGNATURE: self.serve_examples}


def image(rng, colour: int, size=(32, 32), fmt: str = "png") -> bytes:
    """One encoded image whose channel `colour` dominates."""
    pixels = rng.integers(20, 90, (*size, 3))
    pixels[..., colour] += rng.integers(60, 160)
    pixels = pixels.clip(0, 255).astype(np.uint8)
    encode = tf.io.encode_png if fmt == "png" else tf.io.encode_jpeg
    return encode(pixels).numpy()


def training_like(seed: int, n: int) -> list[bytes]:
    """32x32 PNGs, the three classes in turn (as the span)."""
    rng = np.random.default_rng(seed)
    return [image(rng, i % 3) for i in range(n)]


def shifted(seed: int, n: int) -> list[bytes]:
    """Other sizes, JPEG, and mostly red."""
    rng = np.random.default_rng(seed)
    return [image(rng, 0 if i % 5 else 2, (48, 64), "jpeg") for i in range(n)]


def span(root: str, images: list[bytes]) -> str:
    """An Examples artifact folder (Split-train) of ImageExampleGen's own tf.Examples."""
    uri = os.path.join(root, "examples")
    os.makedirs(os.path.join(uri, "Split-train"))
    path = os.path.join(uri, "Split-train", "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i, data in enumerate(images):
            writer.write(
                build_example(data, check_image(data), i % 3, CLASSES[i % 3]).SerializeToString()
            )
    return uri


def push_colour_model(root: str, model: str = "colour") -> str:
    """The colour model pushed as version 1 of `model` under `<root>/serving`, its
    provenance naming a span of 90 training-like images; returns the serving base."""
    export = os.path.join(root, "export")
    module = ColourModel()
    tf.saved_model.save(module, export, signatures=module.signatures())
    uri = span(root, training_like(0, 90))
    os.makedirs(os.path.join(export, os.path.dirname(PROVENANCE_FILE)))
    with open(os.path.join(export, PROVENANCE_FILE), "w", encoding="utf-8") as f:
        json.dump({"model_name": model, "version": 1, "data": {"span": 0, "examples_uri": uri}}, f)
    base = os.path.join(root, "serving")
    atomic_push(export, os.path.join(base, model), version=1)
    return base


def logging_config(path: str, base: str, names: dict[str, str]) -> None:
    """A TF Serving model config file: each name served from `base/<served model>` with
    a logging_config writing to `<dir of path>/logs/<name>` (`names`: name -> served)."""
    entries = "".join(
        f'config {{ name: "{name}" base_path: "{os.path.join(base, served)}" logging_config {{ '
        f'log_collector_config {{ type: "tfrecord" filename_prefix: "logs/{name}" }} '
        "sampling_config { sampling_rate: 1.0 } } }\n"
        for name, served in names.items()
    )
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"model_config_list {{\n{entries}}}\n")


def write_logs(prefix: str, model: str, requests: list[dict], responses: list[dict]) -> str:
    """One published log file of `prefix` (as `vrl serve` names and publishes them) holding
    one Predict of version 1 per (inputs, outputs) pair; returns its path."""
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    path = f"{prefix}.{int(time.time() * 1000)}.{os.getpid()}-1{SUFFIX}"
    with tf.io.TFRecordWriter(path) as writer:
        for inputs, outputs in zip(requests, responses, strict=True):
            record = prediction_log(model, 1, "serving_default", inputs, outputs, 1.0)
            writer.write(record.SerializeToString())
    return path


def log_colour_traffic(prefix: str, model: str, images: list[bytes], per_request: int = 3) -> str:
    """Logs of the colour model answering `images`, `per_request` per Predict."""
    module = ColourModel()
    requests, responses = [], []
    for i in range(0, len(images), per_request):
        batch = np.array(images[i : i + per_request], dtype=object)
        outputs = module.serve(tf.constant(list(batch)))
        requests.append({features.SERVING_INPUT_KEY: batch})
        responses.append({k: v.numpy() for k, v in outputs.items()})
    return write_logs(prefix, model, requests, responses)
