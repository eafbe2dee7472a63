"""numpy <-> TensorProto the way TF Serving encodes responses.

TF Serving writes Predict outputs with `Tensor::AsProtoField` (typed `*_val`
fields: `float_val`, `int64_val`, `string_val`, ...) unless it runs with
`--enable_serialization_as_tensor_content`, which switches to
`AsProtoTensorContent` (packed bytes in `tensor_content`; strings stay in
`string_val`). Clients such as TF Serving's mnist_client.py read `float_val`
directly, so the default matters.
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving.errors import invalid
from serving.limits import RequestBudget

# numpy dtype -> (DataType enum, the typed TensorProto field Tensor::AsProtoField fills)
_TYPED = {
    np.dtype(np.float32): (types_pb2.DT_FLOAT, "float_val"),
    np.dtype(np.float64): (types_pb2.DT_DOUBLE, "double_val"),
    np.dtype(np.int32): (types_pb2.DT_INT32, "int_val"),
    np.dtype(np.int16): (types_pb2.DT_INT16, "int_val"),
    np.dtype(np.int8): (types_pb2.DT_INT8, "int_val"),
    np.dtype(np.uint8): (types_pb2.DT_UINT8, "int_val"),
    np.dtype(np.uint16): (types_pb2.DT_UINT16, "int_val"),
    np.dtype(np.int64): (types_pb2.DT_INT64, "int64_val"),
    np.dtype(np.uint32): (types_pb2.DT_UINT32, "uint32_val"),
    np.dtype(np.uint64): (types_pb2.DT_UINT64, "uint64_val"),
    np.dtype(np.bool_): (types_pb2.DT_BOOL, "bool_val"),
    np.dtype(np.float16): (types_pb2.DT_HALF, "half_val"),
    np.dtype(np.complex64): (types_pb2.DT_COMPLEX64, "scomplex_val"),
    np.dtype(np.complex128): (types_pb2.DT_COMPLEX128, "dcomplex_val"),
}


def _is_string(array: np.ndarray) -> bool:
    return array.dtype == object or array.dtype.kind in ("S", "U")


def to_tensor_proto(array: np.ndarray, as_tensor_content: bool = False) -> tensor_pb2.TensorProto:
    """One output array as TF Serving writes it (typed fields unless `as_tensor_content`)."""
    proto = tensor_pb2.TensorProto()
    fill_tensor_proto(proto, array, as_tensor_content)
    return proto


def fill_tensor_proto(
    proto: tensor_pb2.TensorProto, array: np.ndarray, as_tensor_content: bool = False
) -> None:
    """Writes `array` into an empty `proto` in place (no copy of the finished message)."""
    array = np.asarray(array)
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    if _is_string(array):
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.ravel().tolist()
        )
        return
    if array.dtype.name == "bfloat16":
        proto.dtype = types_pb2.DT_BFLOAT16
        bits = array.view(np.uint16).ravel()
        if as_tensor_content:
            proto.tensor_content = bits.astype("<u2").tobytes()
        else:
            proto.half_val.extend(bits.tolist())
        return
    if array.dtype not in _TYPED:
        raise TypeError(f"output of dtype {array.dtype} has no TensorProto encoding")
    dtype, field = _TYPED[array.dtype]
    proto.dtype = dtype
    if as_tensor_content:
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        proto.tensor_content = np.ascontiguousarray(little).tobytes()
        return
    flat = array.ravel()
    if field == "half_val":
        values = flat.view(np.uint16).tolist()
    elif field in ("scomplex_val", "dcomplex_val"):
        pairs = np.empty(flat.size * 2, dtype=flat.real.dtype)
        pairs[0::2], pairs[1::2] = flat.real, flat.imag
        values = pairs.tolist()
    else:
        values = flat.tolist()
    getattr(proto, field).extend(values)


_FROM_FIELD = {dtype: (np_dtype, field) for np_dtype, (dtype, field) in _TYPED.items()}
_FROM_FIELD[types_pb2.DT_BFLOAT16] = (np.dtype(np.uint16), "half_val")

# Values per element in the typed field (complex numbers are stored as pairs).
_PER_ELEMENT = {"scomplex_val": 2, "dcomplex_val": 2}
# Tensor ranks TensorFlow accepts (TensorShape's kMaxDims).
_MAX_RANK = 254


def check_tensor_proto(alias: str, proto: tensor_pb2.TensorProto, budget: RequestBudget) -> None:
    """Checks a request TensorProto before anything is allocated for it.

    The declared shape is counted against the request's caps first: TensorFlow's
    `Tensor::FromProto` repeats the last value sent (zeros when none is) to fill the
    shape, as `tf.make_tensor_proto(0.0, shape=[1, 4])` relies on, so 57 bytes could
    otherwise ask for gigabytes. Within the caps fewer values are filled that way;
    more values than the shape holds are an error.
    """
    shape = proto.tensor_shape
    if shape.unknown_rank:
        raise invalid(f"input '{alias}': malformed TensorProto: TensorProto has an unknown rank")
    if len(shape.dim) > _MAX_RANK:
        raise invalid(
            f"input '{alias}': malformed TensorProto: rank {len(shape.dim)} is above {_MAX_RANK}"
        )
    dims = [d.size for d in shape.dim]
    if proto.dtype == types_pb2.DT_STRING:
        size = budget.add_tensor(alias, dims, 0)
        sent = len(proto.string_val)
        if proto.tensor_content:
            raise invalid(
                f"input '{alias}': malformed TensorProto: string tensors cannot use tensor_content"
            )
        if sent > size:
            raise invalid(_count_message(alias, dims, size, sent))
        # numpy object arrays hold a pointer and a bytes object per value (a filled
        # tensor repeats the last bytes object, counted once per element here)
        last = len(proto.string_val[-1]) if sent else 0
        budget.add_bytes(
            alias, sum(len(v) for v in proto.string_val) + last * (size - sent) + 40 * size
        )
        return
    np_dtype, field = _FROM_FIELD.get(proto.dtype, (None, None))
    if np_dtype is None:
        name = (
            types_pb2.DataType.Name(proto.dtype)
            if proto.dtype in types_pb2.DataType.values()
            else proto.dtype
        )
        raise invalid(
            f"input '{alias}': malformed TensorProto: dtype {name} is not supported as a request input"
        )
    size = budget.add_tensor(alias, dims, np_dtype.itemsize)
    if proto.tensor_content:
        if len(proto.tensor_content) != size * np_dtype.itemsize:
            raise invalid(
                f"input '{alias}': malformed TensorProto: shape {dims} of {np_dtype.name} needs "
                f"{size * np_dtype.itemsize} bytes of tensor_content, got "
                f"{len(proto.tensor_content)}"
            )
        return
    values = len(getattr(proto, field))
    sent, extra = divmod(values, _PER_ELEMENT.get(field, 1))
    if extra:
        raise invalid(
            f"input '{alias}': malformed TensorProto: {field} holds {values} numbers, not "
            "a real and an imaginary part per element"
        )
    if sent > size:
        raise invalid(_count_message(alias, dims, size, values))


def _count_message(alias: str, dims: list[int], size: int, sent: int) -> str:
    return (
        f"input '{alias}': malformed TensorProto: shape {dims} holds {size} values but {sent} "
        "were sent"
    )


def from_tensor_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """TensorProto -> numpy; strings and plain numeric tensors skip tf.make_ndarray's overhead.

    Anything unusual (half, complex, bfloat16) goes through tf.make_ndarray, which
    raises TypeError/ValueError for malformed protos. Fewer values than the shape
    holds are filled as `Tensor::FromProto` does (the last value repeated, zeros when
    none); request tensors pass `check_tensor_proto` first, so the shape is in the caps.
    """
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    size = math.prod(shape)
    if proto.dtype == types_pb2.DT_STRING and len(proto.string_val) <= size:
        array = np.empty(size, dtype=object)
        array[:] = _filled(list(proto.string_val), size, b"")
        return array.reshape(shape)
    np_dtype, field = _FROM_FIELD.get(proto.dtype, (None, None))
    if field in ("float_val", "double_val", "int_val", "int64_val", "bool_val"):
        if proto.tensor_content and len(proto.tensor_content) == size * np_dtype.itemsize:
            flat = np.frombuffer(proto.tensor_content, dtype=np_dtype.newbyteorder("<"))
            return flat.astype(np_dtype).reshape(shape)
        values = getattr(proto, field)
        if not proto.tensor_content and len(values) <= size:
            return _filled(np.array(values, dtype=np_dtype), size, 0).reshape(shape)
    import tensorflow as tf

    return tf.make_ndarray(proto)


def _filled(values, size: int, zero):
    """`values` padded to `size` with its last value (or `zero` when empty), as
    TensorFlow's `Tensor::FromProto` fills a shape from fewer values."""
    missing = size - len(values)
    if missing <= 0:
        return values
    last = values[-1] if len(values) else zero
    if isinstance(values, list):
        return values + [last] * missing
    return np.concatenate([values, np.full(missing, last, dtype=values.dtype)])
