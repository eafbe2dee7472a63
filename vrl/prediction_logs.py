"""Reading scored images back from TF Serving PredictionLog TFRecords.

The files are those `vrl serve` writes for a model's `logging_config` (published
`<filename_prefix>.<start>.<id>.tfrecord`; hidden `.…tmp` files still being
written are never read) and those TFX's BulkInferrer writes
(`prediction_logs-*.gz`). Each record is a `tensorflow.serving.PredictionLog`
whose `predict_log` holds the request (encoded images under `image_bytes`, or
serialized tf.Examples under `examples`) and the response (`probabilities`
and the predicted `label_names`). A damaged file is read up to the damage and
counted, never fatal.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import logging
import os

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import prediction_log_pb2

from contracts import features
from models import tfdata

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ScoredImage:
    """One logged image with the model's answer for it."""

    sha256: str
    image: bytes
    probabilities: np.ndarray
    guess: str


@dataclasses.dataclass
class ReadCounts:
    """What reading the logs found besides the images."""

    files: int = 0
    records: int = 0
    other_models: int = 0
    unusable_records: int = 0
    damaged_files: list[str] = dataclasses.field(default_factory=list)


def log_files(paths: list[str]) -> list[str]:
    """The published log files under each of `paths`: a file, a folder (searched
    recursively for `*.tfrecord*` and `*.gz`), or a `filename_prefix`."""
    found: set[str] = set()
    for path in paths:
        if os.path.isfile(path):
            found.add(path)
        elif os.path.isdir(path):
            for pattern in ("**/*.tfrecord*", "**/*.gz"):
                found.update(glob.glob(os.path.join(glob.escape(path), pattern), recursive=True))
        else:
            found.update(glob.glob(glob.escape(path) + ".*.tfrecord"))
    return sorted(f for f in found if not os.path.basename(f).startswith("."))


def _compression(path: str) -> str:
    with open(path, "rb") as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def _images_of(request) -> list[bytes]:
    inputs = request.inputs
    if features.SERVING_INPUT_KEY in inputs:
        return list(inputs[features.SERVING_INPUT_KEY].string_val)
    if features.EXAMPLES_INPUT_KEY in inputs:
        out = []
        for serialized in inputs[features.EXAMPLES_INPUT_KEY].string_val:
            example = tf.train.Example.FromString(serialized)
            out.append(example.features.feature[features.IMAGE_KEY].bytes_list.value[0])
        return out
    raise ValueError(f"no {features.SERVING_INPUT_KEY!r} or {features.EXAMPLES_INPUT_KEY!r} input")


def scored_images(record: prediction_log_pb2.PredictionLog) -> list[ScoredImage]:
    """The images of one PredictionLog with their probabilities and predicted label.

    Raises ValueError when the record is not a Predict of an image classifier."""
    if record.WhichOneof("log_type") != "predict_log":
        raise ValueError(f"a {record.WhichOneof('log_type')}, not a predict_log")
    images = _images_of(record.predict_log.request)
    outputs = record.predict_log.response.outputs
    if features.OUTPUT_PROBABILITIES not in outputs:
        raise ValueError(f"response has no {features.OUTPUT_PROBABILITIES!r} output")
    probs = tf.make_ndarray(outputs[features.OUTPUT_PROBABILITIES]).reshape(len(images), -1)
    names = [b.decode("utf-8", "replace") for b in outputs[features.OUTPUT_LABEL_NAMES].string_val]
    if len(names) != len(images):
        names = [str(int(np.argmax(p))) for p in probs]
    return [
        ScoredImage(hashlib.sha256(img).hexdigest(), img, probs[i].astype(np.float64), names[i])
        for i, img in enumerate(images)
    ]


def read_logs(paths: list[str], model: str) -> tuple[list[ScoredImage], ReadCounts]:
    """Every logged image of `model` under `paths` (records naming another model in
    their log_metadata are skipped; BulkInferrer's records name none)."""
    counts = ReadCounts()
    out: list[ScoredImage] = []
    for path in log_files(paths):
        counts.files += 1
        dataset = tfdata.tfrecords(path, _compression(path))
        try:
            for raw in dataset.as_numpy_iterator():
                counts.records += 1
                _add(bytes(raw), model, out, counts)
        except tf.errors.OpError as e:
            counts.damaged_files.append(path)
            log.warning("%s: damaged after %d records: %s", path, counts.records, e.message)
    return out, counts


def _add(raw: bytes, model: str, out: list[ScoredImage], counts: ReadCounts) -> None:
    record = prediction_log_pb2.PredictionLog()
    try:
        record.ParseFromString(raw)
        name = record.log_metadata.model_spec.name
        if name and name != model:
            counts.other_models += 1
            return
        out.extend(scored_images(record))
    except (DecodeError, ValueError, IndexError) as e:
        counts.unusable_records += 1
        log.debug("unusable record: %s", e)
