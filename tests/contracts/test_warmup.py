"""TF Serving's warmup file as the trainers write it, read back with TF's own readers."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from contracts import warmup


def _logs(path: str) -> list[prediction_log_pb2.PredictionLog]:
    return [
        prediction_log_pb2.PredictionLog.FromString(raw)
        for raw in tf.data.TFRecordDataset(path).as_numpy_iterator()
    ]


def test_warmup_file_is_a_tfrecord_of_predict_logs_where_tf_serving_reads_it(tmp_path):
    folder = tmp_path / "1"
    folder.mkdir()
    requests = warmup.image_requests("cnn", [b"png-1", b"png-2"])
    requests += warmup.policy_requests("policy", [[0.1, 0.2, 0.3, 0.4]])
    path = warmup.write_warmup_file(str(folder), requests)
    assert path == str(folder / "assets.extra" / "tf_serving_warmup_requests")
    logs = _logs(path)
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log"] * 4
    batch = logs[2].predict_log.request
    assert batch.model_spec.name == "cnn" and batch.model_spec.signature_name == "serving_default"
    assert list(tf.make_ndarray(batch.inputs["image_bytes"])) == [b"png-1", b"png-2"]
    single = [tf.make_ndarray(log.predict_log.request.inputs["image_bytes"]) for log in logs[:2]]
    assert [s.tolist() for s in single] == [[b"png-1"], [b"png-2"]]
    observation = tf.make_ndarray(logs[3].predict_log.request.inputs["observation"])
    assert observation.dtype == np.float32 and observation.shape == (1, 4)
    np.testing.assert_allclose(observation[0], [0.1, 0.2, 0.3, 0.4], rtol=1e-6)


def test_warmup_file_refuses_too_many_records_and_a_missing_folder(tmp_path):
    requests = warmup.image_requests("cnn", [b"png"])
    with pytest.raises(ValueError, match="at most 1000"):
        warmup.write_warmup_file(str(tmp_path), requests * 1001)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        warmup.write_warmup_file(str(tmp_path / "missing"), requests)
    with pytest.raises(ValueError, match="at least one"):
        warmup.image_requests("cnn", [])


def test_policy_requests_send_frames_as_uint8_batches_of_one_and_all():
    frames = np.arange(2 * 3 * 3 * 2).reshape(2, 3, 3, 2) % 256
    requests = warmup.policy_requests("pixel", frames)
    shapes = [tf.make_ndarray(r.inputs["observation"]).shape for r in requests]
    assert shapes == [(1, 3, 3, 2), (1, 3, 3, 2), (2, 3, 3, 2)]
    assert tf.make_ndarray(requests[-1].inputs["observation"]).dtype == np.uint8
    with pytest.raises(ValueError, match="uint8 values 0-255"):
        warmup.policy_requests("pixel", frames / 255.0 + 0.001)
