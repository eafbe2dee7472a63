"""JSON values <-> request tensors, as TF Serving's util/json_tensor.cc reads them.

A numeric input is converted by numpy and that conversion is the check (every leaf
a number, rows rectangular, rank within the depth cap); anything else, or a value
that fails, goes through the leaf-by-leaf walk, which names what is wrong. Bodies
with a lone UTF-16 surrogate escape are refused as parse errors.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import numpy as np
import tensorflow as tf

from serving.errors import invalid
from serving.limits import RequestBudget, RequestLimits


def is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def leaves(
    alias: str, value: Any, is_string: bool, path: str = "", depth: int = 0, max_depth: int = 32
) -> tuple[Any, list[int]]:
    """Decodes b64 leaves, checks leaf types, nesting and that nested lists are rectangular."""
    if depth > max_depth:
        raise invalid(f"input '{alias}': JSON nesting is deeper than {max_depth} levels")
    if is_b64(value):
        if not is_string:
            raise invalid(
                f"input '{alias}'{path}: {{\"b64\": ...}} is only allowed for string inputs"
            )
        try:
            return base64.b64decode(value["b64"], validate=True), []
        except (binascii.Error, TypeError, ValueError) as e:
            raise invalid(f"input '{alias}'{path}: Unable to base64 decode: {e}") from e
    if isinstance(value, list):
        items = [
            leaves(alias, v, is_string, f"{path}[{i}]", depth + 1, max_depth)
            for i, v in enumerate(value)
        ]
        shapes = {tuple(s) for _, s in items}
        if len(shapes) > 1:
            raise invalid(
                f"input '{alias}'{path}: mixed row lengths {sorted(shapes)}; every row of a "
                "tensor must have the same shape"
            )
        inner = list(shapes.pop()) if shapes else []
        return [v for v, _ in items], [len(value)] + inner
    if is_string:
        if isinstance(value, str):
            return value.encode("utf-8"), []
        raise invalid(
            f"input '{alias}'{path}: expected a string or {{\"b64\": ...}}, got {value!r}"
        )
    if isinstance(value, bool | int | float) and not isinstance(value, dict):
        return value, []
    kind = "an object" if isinstance(value, dict) else "null" if value is None else repr(value)[:80]
    raise invalid(f"input '{alias}'{path}: expected a number, got {kind}")


def json_to_array(
    alias: str, value: Any, dtype: tf.dtypes.DType, budget: RequestBudget | None = None
) -> np.ndarray:
    """One input's JSON value -> numpy array of the signature's dtype.

    The shape is counted against `budget` before the array is built.
    """
    budget = budget or RequestBudget(RequestLimits())
    is_string = dtype == tf.string
    if isinstance(value, list):
        budget.check_rows(f"input '{alias}'", len(value))
    if not is_string:
        fast = _numeric_array(alias, value, dtype, budget)
        if fast is not None:
            return fast
    data, shape = leaves(alias, value, is_string, max_depth=budget.limits.max_json_depth)
    if is_string:
        size = budget.add_tensor(alias, shape, 0)
        budget.add_bytes(alias, sum(len(v) for v in _flat(data)) + 40 * size)
        # bytes are not sequences to numpy, so rectangular lists give the right shape
        return np.array(data, dtype=object)
    budget.add_tensor(alias, shape, dtype.size if dtype.is_numpy_compatible else 8)
    try:
        return np.array(data, dtype=dtype.as_numpy_dtype)
    except (ValueError, TypeError, OverflowError) as e:
        raise invalid(f"input '{alias}': cannot convert to {dtype.name}: {e}") from e


def _numeric_array(
    alias: str, value: Any, dtype: tf.dtypes.DType, budget: RequestBudget
) -> np.ndarray | None:
    """A numeric input converted the way numpy converts a nested list, or None when the
    value needs the leaf-by-leaf walk (for its error message, or an exact conversion).

    numpy's own conversion is the check: it gives a bool, integer or float array only
    when every leaf is a number and the nesting is rectangular (a string, null, object
    or ragged row gives another dtype or a ValueError), and its rank is the depth.
    """
    try:
        inferred = np.array(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None
    if inferred.dtype.kind not in "biuf" or inferred.ndim > budget.limits.max_json_depth:
        return None
    target = np.dtype(dtype.as_numpy_dtype) if dtype.is_numpy_compatible else None
    if target is None or not _same_values(inferred, target):
        return None
    budget.add_tensor(alias, list(inferred.shape), target.itemsize)
    return inferred.astype(target, copy=False)


def _same_values(inferred: np.ndarray, target: np.dtype) -> bool:
    """Whether casting `inferred` to `target` gives what converting the JSON values to
    `target` directly gives (else the values go through the direct conversion)."""
    kind = inferred.dtype.kind
    if inferred.dtype == target or (kind == "f" and target.kind == "f"):
        return True
    if kind not in "biu" or target.kind not in "iuf" or inferred.size == 0:
        return False
    low, high = inferred.min(), inferred.max()
    if target.kind == "f":  # integers a double holds exactly round once either way
        return -(2**53) <= low and high <= 2**53
    info = np.iinfo(target)
    return info.min <= low and high <= info.max


def _flat(data: Any):
    if isinstance(data, list):
        for item in data:
            yield from _flat(item)
    else:
        yield data


def load_json(body: bytes, limits: RequestLimits) -> Any:
    """Parses a request body; nesting beyond Python's recursion limit is a 400, not a crash."""
    try:
        doc = json.loads(body)
    except RecursionError as e:
        raise invalid(
            f"JSON Parse error: nesting is deeper than {limits.max_json_depth} levels"
        ) from e
    except (ValueError, UnicodeDecodeError) as e:
        raise invalid(f"JSON Parse error: {e}") from e
    if _SURROGATE_ESCAPE.search(body):
        _check_surrogates(doc)
    return doc


# json.loads turns a lone "\ud800" escape into a str no UTF-8 can hold; only bodies
# with a surrogate escape are walked (a valid pair decodes to one character).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _check_surrogates(doc: Any) -> None:
    """Rejects any key or string holding a lone surrogate, as a JSON parse error."""
    stack = [doc]
    while stack:
        item = stack.pop()
        strings = []
        if isinstance(item, dict):
            strings = list(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            strings = [item]
        for text in strings:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise invalid(
                    f"JSON Parse error: string {text[:40]!r} holds a lone UTF-16 surrogate "
                    f"({text[e.start]!r} at {e.start}); send valid Unicode"
                ) from None
