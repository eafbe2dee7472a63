"""TF Serving's REST JSON formats <-> numpy: row (`instances`) and columnar (`inputs`).

Binary strings travel as {"b64": "..."}; string outputs whose name ends in
`_bytes` (or that are not UTF-8) are returned the same way.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import tensorflow as tf

from serving.errors import invalid
from serving.json_tensor import is_b64, json_to_array, leaves, load_json
from serving.json_text import float32_text, float_array_to_json
from serving.limits import RequestBudget, RequestLimits
from serving.servable import DEFAULT_SIGNATURE, LoadedVersion


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
        if isinstance(inputs, dict) and not is_b64(inputs):
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
    named = [isinstance(x, dict) and not is_b64(x) for x in instances]
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
    elif all(isinstance(v, str) or is_b64(v) for v in values):
        for v in values:
            if isinstance(v, str):
                feature.bytes_list.value.append(v.encode("utf-8"))
            else:
                feature.bytes_list.value.append(leaves(name, v, True)[0])
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
