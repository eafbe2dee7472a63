"""Served traffic vs the training span: features, TFDV statistics, skew comparison.

Each image becomes one row: the features ingest records (height, width, channels,
format, bytes; read from the image header, the same way for both sides) and the model's
outputs (predicted class, top-1 probability, margin, entropy). Rows become TFDV
statistics; a TFDV schema carries the thresholds (`skew_comparator`: L-infinity
for categorical features, Jensen-Shannon divergence for numeric ones) and
`tfdv.validate_statistics` compares training against serving.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from components.image_example_gen.ops import ALLOWED_FORMATS
from contracts import features
from contracts.images import ImageRejected, open_image
from models import selection, tfdata

BYTES = "bytes"
PREDICTED_CLASS = "predicted_class"
TOP1 = "top1_probability"
MARGIN = "margin"
ENTROPY = "entropy"
CATEGORICAL = (features.FORMAT_KEY, PREDICTED_CLASS)
NUMERIC = (
    features.HEIGHT_KEY,
    features.WIDTH_KEY,
    features.CHANNELS_KEY,
    BYTES,
    TOP1,
    MARGIN,
    ENTROPY,
)
FEATURES = CATEGORICAL + NUMERIC
UNDECODABLE = "undecodable"
"""The format of an image ImageExampleGen would have refused."""
_MODE_CHANNELS = {"1": 1, "L": 1, "I": 1, "I;16": 1, "F": 1, "LA": 2, "RGB": 3, "RGBA": 4}
"""Pillow mode -> channels of tf.io.decode_image(channels=0) (GIF always decodes to 3)."""
DEFAULT_LINF = 0.2
DEFAULT_JSD = 0.2


def image_features(data: bytes) -> dict:
    """Ingest's image features of one encoded image, from its header (no pixel decode,
    so 100,000 logged images take seconds): format by ImageExampleGen's format table,
    height, width, and the channels TensorFlow's decode_image gives the stored mode
    (a palette with transparency is 4). An image ingest would refuse on sight (not an
    image, a format it does not take) is `undecodable`."""
    try:
        image = open_image(data)
    except ImageRejected:
        return {features.FORMAT_KEY: UNDECODABLE, BYTES: len(data)}
    fmt = ALLOWED_FORMATS.get(image.format or "")
    if fmt is None:
        return {features.FORMAT_KEY: UNDECODABLE, BYTES: len(data)}
    channels = _MODE_CHANNELS.get(image.mode, 3)
    if image.mode == "P" and fmt != "gif":
        channels = 4 if "transparency" in image.info else 3
    elif fmt == "bmp" and data[28:30] == b"\x20\x00":  # 32 bits per pixel: TF keeps alpha
        channels = 4
    width, height = image.size
    return {
        features.HEIGHT_KEY: height,
        features.WIDTH_KEY: width,
        features.CHANNELS_KEY: channels,
        features.FORMAT_KEY: fmt,
        BYTES: len(data),
    }


def rows(images: Sequence[bytes], probabilities: np.ndarray, guesses: Sequence[str]) -> list[dict]:
    """One feature row per image: ingest's image features and the model's outputs
    (`probabilities` [N, classes], `guesses` the predicted class names)."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(len(images), -1)
    top1 = p.max(axis=1) if len(p) else np.zeros(0)
    margins = selection.margin(p) if p.shape[1] > 1 else top1
    entropies = selection.entropy(p)
    return [
        {
            **image_features(data),
            PREDICTED_CLASS: guesses[i],
            TOP1: float(top1[i]),
            MARGIN: float(margins[i]),
            ENTROPY: float(entropies[i]),
        }
        for i, data in enumerate(images)
    ]


def span_images(examples_uri: str, split: str = "train", limit: int = 1000) -> list[bytes]:
    """Encoded images of a span's Examples artifact split (at most `limit`, in file order)."""
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise FileNotFoundError(f"{examples_uri}: no Split-{split} files of tf.Examples")
    images: list[bytes] = []
    for raw in tfdata.tfrecords(files, _compression(files[0])):
        example = tf.train.Example.FromString(raw.numpy())
        images.append(example.features.feature[features.IMAGE_KEY].bytes_list.value[0])
        if len(images) >= limit:
            break
    return images


def _compression(path: str) -> str:
    return "GZIP" if path.endswith(".gz") else ""


def score(
    predict: Callable[[list[bytes]], tuple[np.ndarray, list[str]]],
    images: Sequence[bytes],
    batch: int = 64,
) -> tuple[np.ndarray, list[str]]:
    """[N, classes] probabilities and predicted class names of `images`, `batch` at a time."""
    parts = [predict(list(images[i : i + batch])) for i in range(0, len(images), batch)]
    if not parts:
        return np.zeros((0, 0)), []
    return np.concatenate([p for p, _ in parts]), [g for _, guesses in parts for g in guesses]


def statistics(feature_rows: Iterable[dict]) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV statistics of the rows (in process; a missing value is left missing)."""
    frame = pd.DataFrame(list(feature_rows), columns=list(FEATURES))
    return tfdv.generate_statistics_from_dataframe(frame)


def default_schema(
    training: statistics_pb2.DatasetFeatureStatisticsList,
    linf: float = DEFAULT_LINF,
    jsd: float = DEFAULT_JSD,
) -> schema_pb2.Schema:
    """The schema TFDV infers from the reference statistics, with a skew threshold per
    feature: L-infinity for strings, Jensen-Shannon divergence for numbers."""
    schema = tfdv.infer_schema(training)
    for feature in schema.feature:
        if feature.type == schema_pb2.BYTES:  # format, predicted_class, a policy's action
            feature.skew_comparator.infinity_norm.threshold = linf
        else:
            feature.skew_comparator.jensen_shannon_divergence.threshold = jsd
        feature.presence.min_fraction = 0.0  # undecodable images have no height
    return schema


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One feature's distance between training and serving."""

    feature: str
    comparator: str
    value: float
    threshold: float

    @property
    def drifted(self) -> bool:
        """Above its threshold, as TFDV decides it."""
        return self.value > self.threshold


def compare(
    training: statistics_pb2.DatasetFeatureStatisticsList,
    served: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
) -> tuple[anomalies_pb2.Anomalies, list[Measurement]]:
    """TFDV's skew check of `served` against `training`; its anomalies and measurements."""
    anomalies = tfdv.validate_statistics(
        statistics=training, schema=schema, serving_statistics=served
    )
    measured = []
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        for m in info.skew_measurements:
            kind = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type)
            measured.append(Measurement(name, kind, float(m.value), float(m.threshold)))
    return anomalies, measured


def drifted_features(anomalies: anomalies_pb2.Anomalies, measured: list[Measurement]) -> list[str]:
    """Features TFDV flagged (a comparator over its threshold), sorted."""
    return sorted({m.feature for m in measured if m.drifted} | set(anomalies.anomaly_info))


def mean_of(stats: statistics_pb2.DatasetFeatureStatisticsList, feature: str) -> float | str | None:
    """A numeric feature's mean, or a categorical one's most frequent value."""
    for f in stats.datasets[0].features:
        if ".".join(f.path.step) != feature:
            continue
        if f.HasField("num_stats"):
            return f.num_stats.mean
        top = f.string_stats.top_values
        return top[0].value if top else None
    return None


def fmt(value: float | str | None) -> str:
    """A table cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
