"""JSON text as TF Serving's REST API writes it (util/json_tensor.cc).

Floats are written by `WriteDecimal`: `absl::StrCat` (six significant digits,
printf "%g"), or `%.9g` / `%.17g` when six digits do not round-trip the float32 /
float64; ".0" is appended to whole numbers not in exponent notation; NaN and
infinities are written as the bare tokens NaN, Infinity, -Infinity.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


class Number(str):
    """Number text written into the JSON as is (not quoted)."""


def _decimal(value: float, is_float32: bool) -> Number:
    if math.isnan(value):
        return Number("NaN")
    if math.isinf(value):
        return Number("-Infinity" if value < 0 else "Infinity")
    text = f"{value:.6g}"
    parsed = float(np.float32(text)) if is_float32 else float(text)
    if parsed != value:
        text = f"{value:.9g}" if is_float32 else f"{value:.17g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return Number(text)


def float32_text(value: float) -> Number:
    """A float32 as TF Serving's WriteDecimal<float> writes it."""
    return _decimal(float(np.float32(value)), True)


def float64_text(value: float) -> Number:
    """A float64 as TF Serving's WriteDecimal<double> writes it."""
    return _decimal(float(value), False)


def _nest(flat: list, shape: tuple[int, ...]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def float_array_to_json(array: np.ndarray) -> Any:
    """Nested lists of `Number`s for a float32/float64 array (a bare `Number` for a scalar)."""
    is_float32 = array.dtype != np.float64
    flat = [_decimal(v, is_float32) for v in array.astype(np.float64).ravel().tolist()]
    return _nest(flat, array.shape)


def dumps(value: Any) -> str:
    """JSON text of dicts, lists, strings, numbers, booleans and `Number`s (written raw)."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, Number):
        out.append(value)
    elif isinstance(value, dict):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(", ")
            out.append(json.dumps(str(k)))
            out.append(": ")
            _write(v, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(", ")
            _write(v, out)
        out.append("]")
    elif isinstance(value, float):
        out.append(float64_text(value))
    else:
        out.append(json.dumps(value))
