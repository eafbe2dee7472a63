"""TF Serving's REST JSON formats <-> numpy: row (`instances`) and columnar (`inputs`).

Binary strings travel as {"b64": "..."}; string outputs whose name ends in
`_bytes` (or that are not UTF-8) are returned the same way.
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
from serving.json_text import float32_text, float_array_to_json
from serving.limits import RequestBudget, RequestLimits
from serving.servable import DEFAULT_SIGNATURE, LoadedVersion


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _leaves(
    alias: str, value: Any, is_string: bool, path: str = "", depth: int = 0, max_depth: int = 32
) -> tuple[Any, list[int]]:
    """Decodes b64 leaves, checks leaf types, nesting and that nested lists are rectangular."""
    if depth > max_depth:
        raise invalid(f"input '{alias}': JSON nesting is deeper than {max_depth} levels")
    if _is_b64(value):
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
            _leaves(alias, v, is_string, f"{path}[{i}]", depth + 1, max_depth)
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
    data, shape = _leaves(alias, value, is_string, max_depth=budget.limits.max_json_depth)
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


def parse_predict(
    body: bytes, servable: LoadedVersion, limits: RequestLimits | None = None
) -> tuple[str, dict[str, np.ndarray], bool, RequestBudget]:
    """Parses a :predict body; returns (signature name, inputs, row_format, budget)."""
    budget = RequestBudget(limits or RequestLimits())
    doc = load_json(body, budget.limits)
    if not isinstance(doc, dict):
        raise invalid("JSON Value: request body must be a JSON object")
    signature_name = doc.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature_name, str):
        raise invalid("'signature_name' must be a string")
    sig = servable.signature(signature_name)
    aliases = sorted(sig.inputs)
    if ("instances" in doc) == ("inputs" in doc):
        raise invalid("Missing 'inputs' or 'instances' key (exactly one of them is required)")
    row_format = "instances" in doc
    if row_format:
        if isinstance(doc["instances"], list):
            budget.check_rows("'instances'", len(doc["instances"]))
        columns = _instances_to_columns(doc["instances"], aliases)
    else:
        inputs = doc["inputs"]
        if isinstance(inputs, dict) and not _is_b64(inputs):
            columns = inputs
        elif len(aliases) == 1:
            columns = {aliases[0]: inputs}
        else:
            raise invalid(f"'inputs' must be an object naming the signature's inputs {aliases}")
    arrays = {}
    for alias, value in columns.items():
        dtype = servable.input_dtype(signature_name, alias)
        if dtype is None:
            raise invalid(
                f"input tensor alias not found in signature: {alias}. "
                f"Inputs expected to be in the set {{{', '.join(aliases)}}}."
            )
        arrays[alias] = json_to_array(alias, value, dtype, budget)
    return signature_name, arrays, row_format, budget


def _instances_to_columns(instances: Any, aliases: list[str]) -> dict[str, list]:
    if not isinstance(instances, list) or not instances:
        raise invalid("'instances' must be a non-empty list")
    named = [isinstance(x, dict) and not _is_b64(x) for x in instances]
    if any(named) and not all(named):
        raise invalid("'instances' mixes named (object) and unnamed rows")
    if not all(named):
        if len(aliases) != 1:
            raise invalid(
                f"the signature has inputs {aliases}: each instance must be an object with these names"
            )
        return {aliases[0]: instances}
    keys = set(instances[0])
    for i, x in enumerate(instances):
        if set(x) != keys:
            raise invalid(
                f"instance {i} has inputs {sorted(x)}, instance 0 has {sorted(keys)}; "
                "all instances must name the same inputs"
            )
    return {k: [x[k] for x in instances] for k in keys}


def _to_json(name: str, value: np.ndarray) -> Any:
    if value.dtype in (np.float32, np.float64, np.float16):
        return float_array_to_json(value)
    as_b64 = name.endswith("_bytes")

    def conv(x: Any) -> Any:
        if isinstance(x, list):
            return [conv(v) for v in x]
        if isinstance(x, bytes):
            if not as_b64:
                try:
                    return x.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(x).decode("ascii")}
        return x

    return conv(value.tolist())


def format_predict(outputs: dict[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """Outputs -> {"predictions": ...} (row) or {"outputs": ...} (columnar)."""
    converted = {k: _to_json(k, v) for k, v in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(converted.values())) if len(converted) == 1 else converted}
    if len(converted) == 1:
        return {"predictions": next(iter(converted.values()))}
    sizes = {k: (v.shape[0] if v.ndim else None) for k, v in outputs.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise invalid(
            f"outputs have inconsistent batch sizes {sizes}; use the columnar 'inputs' format"
        )
    rows = next(iter(sizes.values()))
    return {"predictions": [{k: converted[k][i] for k in converted} for i in range(rows)]}


def _feature(name: str, value: Any, feature) -> None:
    """Fills a tf.train.Feature from a JSON value, TF Serving's REST typing rules."""
    values = value if isinstance(value, list) else [value]
    if all(isinstance(v, bool | int) for v in values):
        feature.int64_list.value.extend(int(v) for v in values)
    elif all(isinstance(v, int | float) for v in values):
        feature.float_list.value.extend(float(v) for v in values)
    elif all(isinstance(v, str) or _is_b64(v) for v in values):
        for v in values:
            if isinstance(v, str):
                feature.bytes_list.value.append(v.encode("utf-8"))
            else:
                feature.bytes_list.value.append(_leaves(name, v, True)[0])
    else:
        raise invalid(
            f"feature '{name}': expected a number, a string, {{\"b64\": ...}} or a list of "
            "one of these kinds"
        )


def _example(obj: Any, where: str) -> tf.train.Example:
    if not isinstance(obj, dict):
        raise invalid(f"{where} must be an object mapping feature names to values")
    example = tf.train.Example()
    for name, value in obj.items():
        _feature(name, value, example.features.feature[name])
    return example


def parse_examples(body: bytes, limits: RequestLimits | None = None) -> tuple[str, list[bytes]]:
    """Parses a :classify / :regress body; returns (signature name, serialized examples)."""
    budget = RequestBudget(limits or RequestLimits())
    doc = load_json(body, budget.limits)
    if not isinstance(doc, dict):
        raise invalid("JSON Value: request body must be a JSON object")
    signature_name = doc.get("signature_name", DEFAULT_SIGNATURE)
    examples = doc.get("examples")
    if not isinstance(examples, list) or not examples:
        raise invalid("'examples' must be a non-empty list of objects")
    budget.check_rows("'examples'", len(examples))
    context = _example(doc["context"], "'context'") if "context" in doc else None
    serialized = []
    for i, obj in enumerate(examples):
        example = _example(obj, f"examples[{i}]")
        if context is not None:
            merged = tf.train.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            example = merged
        serialized.append(example.SerializeToString())
        budget.add_bytes(f"examples[{i}]", len(serialized[-1]))
    return str(signature_name), serialized


def format_classify(classes: np.ndarray | None, scores: np.ndarray | None) -> dict[str, Any]:
    """{"results": [[[label, score], ...] per example]} as TF Serving's REST classify."""
    ref = classes if classes is not None else scores
    results = []
    for i in range(ref.shape[0]):
        row = []
        for j in range(ref.shape[1]):
            label = "" if classes is None else _to_json("label", classes[i : i + 1, j])[0]
            row.append([label, float32_text(0.0 if scores is None else scores[i, j])])
        results.append(row)
    return {"results": results}
