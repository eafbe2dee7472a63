"""TF Serving's model warmup file: write it into a SavedModel, replay it at load time.

TF Serving (`--enable_model_warmup`, on by default) reads
`<version>/assets.extra/tf_serving_warmup_requests`, a TFRecord file of
`PredictionLog` protos, and runs each request once before the version is marked
AVAILABLE, so the first real request does not pay for lazy initialisation. At
most 1,000 records are allowed.

  write_warmup_file(saved_model_dir, requests)       what the Pusher calls
  image_requests(...) / policy_requests(...)          requests for this project's signatures
  replay(servable, ...)                               what `vrl serve` runs at load
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from models.cnn import features
from serving.client import POLICY_INPUT, observation_batch
from serving.errors import invalid
from serving.tensors import to_tensor_proto

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_RECORDS = 1000


def warmup_path(saved_model_dir: str) -> str:
    """Where TF Serving looks for the warmup file of a SavedModel version."""
    return os.path.join(saved_model_dir, WARMUP_DIR, WARMUP_FILE)


def write_warmup_file(saved_model_dir: str, requests: Sequence[predict_pb2.PredictRequest]) -> str:
    """Writes `requests` as TF Serving's warmup file into `saved_model_dir`; returns its path.

    Overwrites an existing warmup file. Works on any file system tf.io.gfile knows.
    """
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


def _request(model_name: str, signature_name: str, alias: str, value: np.ndarray):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    request.inputs[alias].CopyFrom(to_tensor_proto(value))
    return request


def image_requests(
    model_name: str,
    images: Sequence[bytes],
    signature_name: str = "serving_default",
) -> list[predict_pb2.PredictRequest]:
    """One single-image request per image, plus one with all of them (two batch sizes)."""
    if not images:
        raise ValueError("image_requests: pass at least one encoded image")
    batches = [[image] for image in images] + ([list(images)] if len(images) > 1 else [])
    return [
        _request(model_name, signature_name, features.SERVING_INPUT_KEY, np.array(b, dtype=object))
        for b in batches
    ]


def policy_requests(
    model_name: str,
    observations: Any,
    signature_name: str = "serving_default",
) -> list[predict_pb2.PredictRequest]:
    """One request per observation, plus one with all of them, for the policy's plain
    signature: vectors as float32 [n, D], image frames as uint8 [n, H, W, C]
    (`serving.client.observation_batch`)."""
    rows = observation_batch(observations)
    batches = [rows[i : i + 1] for i in range(len(rows))] + ([rows] if len(rows) > 1 else [])
    return [_request(model_name, signature_name, POLICY_INPUT, b) for b in batches]


def read_warmup_logs(saved_model_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    """The PredictionLogs of a version's warmup file ([] when it has none)."""
    path = warmup_path(saved_model_dir)
    if not tf.io.gfile.exists(path):
        return []
    logs = []
    for record in tf.data.TFRecordDataset(path):
        if len(logs) == MAX_RECORDS:
            raise invalid(f"Number of warmup records exceeds the maximum ({MAX_RECORDS})")
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs


def replay(
    servable,
    logs: Sequence[prediction_log_pb2.PredictionLog],
    iterations: int = 1,
    to_ndarray: Callable = tf.make_ndarray,
) -> int:
    """Runs each warmup request on a loaded version; returns the number of records run.

    Predict, Classify and Regress logs are run; any other kind fails the warmup, as
    in TF Serving.
    """
    from serving.core import merge_examples

    for _ in range(max(iterations, 1)):
        for log in logs:
            kind = log.WhichOneof("log_type")
            if kind == "predict_log":
                request = log.predict_log.request
                inputs = {k: to_ndarray(v) for k, v in request.inputs.items()}
                servable.run(request.model_spec.signature_name, inputs, list(request.output_filter))
            elif kind in ("classify_log", "regress_log"):
                request = getattr(log, kind).request
                examples = np.array(merge_examples(request.input), dtype=object)
                servable.execute(request.model_spec.signature_name, {"inputs": examples})
            else:
                raise invalid(f"Unsupported log_type for warmup: {kind}")
    return len(logs)
