"""TF Serving's model warmup file, the server's side: read it and replay it at load time.

The file's format and the requests the trainers write into it are the contract
in `contracts.warmup`.

  read_warmup_logs(saved_model_dir)    the PredictionLogs of a version's warmup file
  replay(servable, ...)                what `vrl serve` runs at load
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from contracts.warmup import MAX_RECORDS, warmup_path
from models import tfdata
from serving.core import merge_examples
from serving.errors import invalid


def read_warmup_logs(saved_model_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    """The PredictionLogs of a version's warmup file ([] when it has none)."""
    path = warmup_path(saved_model_dir)
    if not tf.io.gfile.exists(path):
        return []
    logs = []
    for record in tfdata.tfrecords(path):
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

    Predict, Classify, Regress and MultiInference logs are run; any other kind fails
    the warmup, as in TF Serving.
    """
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
            elif kind == "multi_inference_log":
                request = log.multi_inference_log.request
                examples = np.array(merge_examples(request.input), dtype=object)
                for task in request.tasks:
                    servable.execute(task.model_spec.signature_name, {"inputs": examples})
            else:
                raise invalid(f"Unsupported log_type for warmup: {kind}")
    return len(logs)
