"""A logged request's serialized `tensorflow.serving.PredictionLog`, without building one.

Building a PredictionLog copies the request and response into it and serializes the
copy: about twice the work of serializing them where they stand. The writer thread
(serving/request_log.py) instead joins the bytes the protobuf wire format gives a
PredictionLog: its `log_metadata` field (serialized once per model, version,
signature and sampling rate by the real proto, then cached), then the API's field
(`predict_log` ...) holding `request` and `response`, each a length-delimited field
whose bytes are the request's and response's own serialization. Field numbers come
from prediction_log_pb2's descriptors; only the tag and length varints are encoded
here. The result is byte for byte what `PredictionLog.SerializeToString()` gives
(tests/serving/test_request_log_wire.py proves it and parses it back).
"""

from __future__ import annotations

import functools
from typing import Any

from tensorflow_serving.apis import prediction_log_pb2

_LENGTH_DELIMITED = 2
"""The wire type of a nested message field."""
_FIELDS = prediction_log_pb2.PredictionLog.DESCRIPTOR.fields_by_name


def _varint(value: int) -> bytes:
    """`value` (>= 0) as a protobuf base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int) -> bytes:
    return _varint(number << 3 | _LENGTH_DELIMITED)


@functools.lru_cache(maxsize=16)
def _kind_tags(kind: str) -> tuple[bytes, bytes, bytes]:
    """The tags of PredictionLog's `kind` field and of its `request` and `response`."""
    inner = _FIELDS[kind].message_type.fields_by_name
    return _tag(_FIELDS[kind].number), _tag(inner["request"].number), _tag(inner["response"].number)


def log_with_metadata(
    model: str, version: int, signature: str, sampling_rate: float
) -> prediction_log_pb2.PredictionLog:
    """A PredictionLog holding only its log_metadata: model name, the version that
    answered, signature and sampling config."""
    out = prediction_log_pb2.PredictionLog()
    meta = out.log_metadata
    meta.model_spec.name = model
    meta.model_spec.version.value = version
    meta.model_spec.signature_name = signature
    meta.sampling_config.sampling_rate = sampling_rate
    return out


@functools.lru_cache(maxsize=1024)
def metadata_field(model: str, version: int, signature: str, sampling_rate: float) -> bytes:
    """PredictionLog's serialized `log_metadata` field, as the proto writes it."""
    return log_with_metadata(model, version, signature, sampling_rate).SerializeToString()


def prediction_log_bytes(
    model: str,
    version: int,
    signature: str,
    request: Any,
    response: Any,
    sampling_rate: float,
    kind: str = "predict_log",
) -> bytes:
    """The serialized PredictionLog of one request of API `kind` (a PredictionLog field
    such as "predict_log") from its request and response protos."""
    kind_tag, request_tag, response_tag = _kind_tags(kind)
    request_bytes = request.SerializeToString()
    response_bytes = response.SerializeToString()
    body = b"".join(
        (
            request_tag,
            _varint(len(request_bytes)),
            request_bytes,
            response_tag,
            _varint(len(response_bytes)),
            response_bytes,
        )
    )
    prefix = metadata_field(model, version, signature, sampling_rate)
    return b"".join((prefix, kind_tag, _varint(len(body)), body))
