"""`vrl submit --param NAME=VALUE`: each value parsed and judged by the config
field behind it (pipeline/params.py, models/fields.py), the same check `vrl run`
and `vrl compile` apply, before anything is sent to the cluster."""

from __future__ import annotations

import json
from typing import Any

from models.fields import parse_text
from pipeline import params


def _typed(name: str, value: str, parameter_type: str) -> Any:
    try:
        if parameter_type == "NUMBER_INTEGER":
            return int(value)
        if parameter_type == "NUMBER_DOUBLE":
            return float(value)
    except ValueError:
        kind = "an integer" if parameter_type == "NUMBER_INTEGER" else "a number"
        raise ValueError(f"--param {name}={value!r}: expected {kind}") from None
    return value


def _checked(name: str, text: str, found: tuple[str, Any] | None) -> Any:
    """`text` parsed and judged by the schema field behind `name` (`found`: its
    label and Check); None when no field is behind it."""
    if found is None:
        return None
    label, check = found
    try:
        value = parse_text(check, text)
    except ValueError as e:
        raise ValueError(f"--param {name}={text!r}: {e}") from None
    problem = check.problem(label, value)
    if problem:
        raise ValueError(f"--param {name}={text!r}: {problem}")
    return value


def _declared(spec) -> dict[str, tuple[str, Any]]:
    """Pipeline parameter name -> (parameter type, default value) from the spec."""
    from google.protobuf import json_format

    out = {}
    for name, p in spec.root.input_definitions.parameters.items():
        ptype = json_format.MessageToDict(p).get("parameterType", "STRING")
        default = (
            json_format.MessageToDict(p.default_value) if p.HasField("default_value") else None
        )
        out[name] = (ptype, default)
    return out


def _json_objects(declared: dict[str, tuple[str, Any]]) -> dict[str, dict]:
    """String parameters whose default is a JSON object (a whole config), by name."""
    out = {}
    for name, (ptype, default) in declared.items():
        if ptype != "STRING" or not isinstance(default, str):
            continue
        try:
            value = json.loads(default)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            out[name] = value
    return out


def _unknown(name: str, declared: dict, objects: dict[str, dict]) -> ValueError:
    fixed = params.compile_time_fields()
    if name in fixed:
        flag = "--" + name.replace("_", "-")
        return ValueError(
            f"--param {name}: {fixed[name]}.{name} is fixed when the package is compiled; "
            f"compile it again with {flag} (vrl compile --help)"
        )
    known = sorted(declared) + sorted({k for obj in objects.values() for k in obj})
    return ValueError(f"--param {name}: not a parameter of this pipeline; known: {known}")


def resolve_params(spec, given: dict[str, str]) -> dict[str, Any]:
    """Maps `--param` values onto the spec's pipeline parameters, each parsed and
    checked by the config field behind it (pipeline/params.py) before anything is sent.

    A name that is not a pipeline parameter may be a key of a JSON-object string
    parameter (`epochs` inside `trainer_config`, `image_size` inside
    `transform_config`): that parameter is then sent whole, with the key updated,
    and the whole object is checked as the task will build it. `span=N` sets
    `range_config` to that one span (the default, empty, means the latest span).
    A field fixed at compile time is refused with the flag that sets it.
    """
    declared = _declared(spec)
    objects = _json_objects(declared)
    resolved: dict[str, Any] = {}
    for name, text in given.items():
        if name == "span" and params.RANGE_CONFIG in declared:
            span = _checked(name, text, params.check_for(name))
            one_span = {"static_range": {"start_span_number": span, "end_span_number": span}}
            # Empty range_config: the latest span.
            resolved[params.RANGE_CONFIG] = "" if span is None else json.dumps(one_span)
            continue
        param = params.ALIASES.get(name, name)
        if param in declared and param not in objects:
            value = _checked(name, text, params.check_for(param))
            resolved[param] = value if value is not None else _typed(name, text, declared[param][0])
            continue
        holders = [p for p, obj in objects.items() if name in obj]
        if not holders:
            raise _unknown(name, declared, objects)
        for holder in holders:
            obj = json.loads(resolved.get(holder, json.dumps(objects[holder])))
            value = _checked(name, text, params.check_for(holder, name))
            obj[name] = value if value is not None else _loose(text)
            resolved[holder] = json.dumps(obj, sort_keys=True)
    whole = {p: json.dumps(obj) for p, obj in objects.items()} | {
        p: v for p, v in resolved.items() if p in objects
    }
    try:
        params.check_objects(whole)
    except ValueError as e:
        raise ValueError(f"--param: {e}") from None
    return resolved


def _loose(text: str) -> Any:
    """A value with no schema field behind it: JSON if it parses, else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
