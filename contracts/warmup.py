"""TF Serving's model warmup file and the requests this project writes into it.

TF Serving (`--enable_model_warmup`, on by default) reads
`<version>/assets.extra/tf_serving_warmup_requests`, a TFRecord file of
`PredictionLog` protos, and runs each request once before the version is marked
AVAILABLE, so the first real request does not pay for lazy initialisation. At
most 1,000 records are allowed.

  write_warmup_file(saved_model_dir, requests)   what the trainers call
  image_requests(...) / policy_requests(...)      requests for this project's signatures
  observation_batch(...)                          a policy's input as its signature takes it

The server's side (reading and replaying the file) is `serving.warmup`.
TensorFlow and the TF Serving protos are imported inside the functions that
build or write protos, so importing this module stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from contracts import features
from contracts.serving_base import EXTRA_DIR

if TYPE_CHECKING:
    from tensorflow_serving.apis import predict_pb2

WARMUP_FILE = "tf_serving_warmup_requests"
"""File name TF Serving looks for in `assets.extra/`."""
MAX_RECORDS = 1000
"""Most warmup records TF Serving accepts."""


def warmup_path(saved_model_dir: str) -> str:
    """Where TF Serving looks for the warmup file of a SavedModel version."""
    return os.path.join(saved_model_dir, EXTRA_DIR, WARMUP_FILE)


def write_warmup_file(saved_model_dir: str, requests: Sequence[predict_pb2.PredictRequest]) -> str:
    """Writes `requests` as TF Serving's warmup file into `saved_model_dir`; returns its path.

    Overwrites an existing warmup file. Works on any file system tf.io.gfile knows.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    if not requests:
        raise ValueError("write_warmup_file: pass at least one PredictRequest")
    if len(requests) > MAX_RECORDS:
        raise ValueError(
            f"write_warmup_file: {len(requests)} requests; TF Serving accepts at most "
            f"{MAX_RECORDS} warmup records"
        )
    if not tf.io.gfile.exists(saved_model_dir):
        raise FileNotFoundError(f"{saved_model_dir}: SavedModel folder does not exist")
    path = warmup_path(saved_model_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def predict_request(
    model_name: str, signature_name: str, inputs: dict[str, np.ndarray]
) -> predict_pb2.PredictRequest:
    """A PredictRequest built as TF Serving's examples build one (`tf.make_tensor_proto`)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return request


def _batches(rows: Sequence[Any]) -> list[Sequence[Any]]:
    """Each row alone, plus all of them together (two batch sizes warmed up)."""
    return [rows[i : i + 1] for i in range(len(rows))] + ([rows] if len(rows) > 1 else [])


def image_requests(
    model_name: str,
    images: Sequence[bytes],
    signature_name: str = features.SERVING_SIGNATURE,
) -> list[predict_pb2.PredictRequest]:
    """One single-image request per image, plus one with all of them (two batch sizes)."""
    if not images:
        raise ValueError("image_requests: pass at least one encoded image")
    return [
        predict_request(
            model_name, signature_name, {features.SERVING_INPUT_KEY: np.array(b, dtype=object)}
        )
        for b in _batches(list(images))
    ]


def observation_batch(observations: Any) -> np.ndarray:
    """Observations as a policy's plain signature takes them: a vector observation
    [D] as float32 [N, D], an image observation [H, W, C] as uint8 [N, H, W, C]
    (the two kinds models/dqn/envs.py serves). One observation ([D] or [H, W, C])
    becomes a batch of one; a batch ([N, D] or [N, H, W, C]) is kept.

    Raises ValueError for any other rank, an empty batch, or image values a uint8
    cannot hold exactly (e.g. frames already scaled to [0, 1]).
    """
    obs = np.asarray(observations)
    if obs.ndim in (1, 3):
        obs = obs[None]
    if obs.ndim not in (2, 4) or not obs.size:
        raise ValueError(
            "observations: expected a vector [D] or image [H, W, C] observation, or a "
            f"non-empty batch of them ([N, D] or [N, H, W, C]); got shape {obs.shape}"
        )
    if obs.ndim == 2:
        return obs.astype(np.float32, copy=False)
    frames = obs.astype(np.uint8, copy=False)
    if obs.dtype != np.uint8 and not (obs.dtype.kind in "biuf" and np.array_equal(frames, obs)):
        raise ValueError(
            f"observations: image frames must be uint8 values 0-255; got {obs.dtype} "
            f"values from {obs.min()} to {obs.max()}"
        )
    return frames


def policy_requests(
    model_name: str,
    observations: Any,
    signature_name: str = features.SERVING_SIGNATURE,
) -> list[predict_pb2.PredictRequest]:
    """One request per observation, plus one with all of them, for the policy's plain
    signature: vectors as float32 [n, D], image frames as uint8 [n, H, W, C]
    (`observation_batch`)."""
    rows = observation_batch(observations)
    return [
        predict_request(model_name, signature_name, {features.OBSERVATION_KEY: b})
        for b in _batches(rows)
    ]
