"""Config fields with their check written once, beside the field.

A config dataclass declares each field with `setting(default, kind=..., ...)`;
the `Check` rides in the field's metadata. The dataclass's `__post_init__`
calls `problems(self)`; the command line (vrl/flags.py) and `vrl submit`
(pipeline/params.py) parse text with `parse_text` and judge values with the
same `Check`, so a value is refused the same way wherever it enters.
Field docstrings (the string under each field) are read by `docstrings`.
No TensorFlow here: `--help` and `vrl submit` import this.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import math
import re
import textwrap
from collections.abc import Callable
from typing import Any

CHECK_KEY = "check"
"""Metadata key of a field's `Check`."""


@dataclasses.dataclass(frozen=True)
class Check:
    """What one field's value must be."""

    kind: type = str
    """int, float, bool or str (float also takes an int; bool is never a number)."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    """True: `low` itself is refused."""
    high_open: bool = False
    choices: tuple = ()
    """Only these values (for str fields)."""
    also: tuple = ()
    """Literal values allowed besides those of `kind` (num_envs' 'auto')."""
    optional: bool = False
    """None is allowed (it means: decided elsewhere, as the docstring says)."""
    items: bool = False
    """A non-empty sequence of `kind` values, each in range."""
    pattern: str | None = None
    """A regular expression a str value must match in full."""
    nonempty: bool = False
    why: str = ""
    """Reason appended to the message, e.g. "(Kubeflow's rule)"."""

    def ok(self, value: Any) -> bool:
        """Whether `value` passes."""
        if value is None:
            return self.optional
        if value in self.also and not isinstance(value, bool):
            return True
        if self.items:
            return (
                isinstance(value, (tuple, list))
                and len(value) >= 1
                and all(self._one_ok(v) for v in value)
            )
        return self._one_ok(value)

    def _one_ok(self, value: Any) -> bool:
        if not _is_kind(value, self.kind):
            return False
        if self.choices and value not in self.choices:
            return False
        if self.kind is str:
            if self.nonempty and not value:
                return False
            return self.pattern is None or re.fullmatch(self.pattern, value) is not None
        if self.kind in (int, float):
            return _in_range(value, self.low, self.high, self.low_open, self.high_open)
        return True

    def expected(self) -> str:
        """What the value must be, for messages: 'an int in [1, 10000]'."""
        if self.choices:
            text = f"one of {self.choices}"
        elif self.kind is bool:
            text = "true or false"
        elif self.kind is str:
            text = f"a string matching {self.pattern}" if self.pattern else "a string"
            text = "a non-empty string" if self.nonempty and not self.pattern else text
        else:
            text = ("an int" if self.kind is int else "a number") + self._range()
        if self.items:
            text = f"a list of {'ints' if self.kind is int else 'values'}, each {text}"
        if self.also:
            text = " or ".join([*(repr(a) for a in self.also), text])
        if self.optional:
            text += " or unset"
        return f"{text} {self.why}".rstrip()

    def _range(self) -> str:
        low, high = self.low, self.high
        if low is None and high is None:
            return ""
        if high is None:
            return f" {'>' if self.low_open else '>='} {_number(low)}"
        if low is None:
            return f" {'<' if self.high_open else '<='} {_number(high)}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f" in {left}{_number(low)}, {_number(high)}{right}"

    def problem(self, name: str, value: Any) -> str | None:
        """'<name> must be <expected>, got <value>' when `value` fails, else None."""
        if self.ok(value):
            return None
        return f"{name} must be {self.expected()}, got {value!r}"


SEED_LIMIT = 2**32
"""NumPy's and TensorFlow's seeds: 0 <= seed < 2**32."""


def setting(default: Any = dataclasses.MISSING, like: Check | None = None, **check: Any) -> Any:
    """A dataclass field whose metadata holds `Check(**check)`, or `like` with
    `check` changed; `default_factory` may be given instead of `default`."""
    factory = check.pop("default_factory", dataclasses.MISSING)
    rule = dataclasses.replace(like, **check) if like is not None else Check(**check)
    return dataclasses.field(default=default, default_factory=factory, metadata={CHECK_KEY: rule})


def check_of(field: dataclasses.Field) -> Check | None:
    """The field's Check, None for fields declared without one."""
    return field.metadata.get(CHECK_KEY)


def field_check(cls: type, name: str) -> Check:
    """The Check of `cls`'s field `name` (KeyError when it has none)."""
    for f in dataclasses.fields(cls):
        if f.name == name and check_of(f) is not None:
            return check_of(f)
    raise KeyError(f"{cls.__name__} has no checked field {name!r}")


def problems(config: Any) -> list[str]:
    """One '<field> must be ..., got ...' line per field whose value fails its Check."""
    out = []
    for f in dataclasses.fields(config):
        check = check_of(f)
        found = check.problem(f.name, getattr(config, f.name)) if check else None
        if found:
            out.append(found)
    return out


def normalize(config: Any) -> None:
    """In place on a frozen dataclass: ints into float fields, lists into tuples
    (JSON gives both), so equal configs compare and hash equal."""
    for f in dataclasses.fields(config):
        check, value = check_of(f), getattr(config, f.name)
        if check is None:
            continue
        if check.items and isinstance(value, list):
            object.__setattr__(config, f.name, tuple(value))
        elif check.kind is float and _is_kind(value, int) and value not in check.also:
            object.__setattr__(config, f.name, float(value))


def parse_text(check: Check, text: str) -> Any:
    """A value of `check`'s kind from command-line or `--param` text.

    Raises ValueError saying what was expected; the range is judged by the
    config itself, so the message names the field there.
    """
    stripped = text.strip()
    if (
        check.optional
        and stripped.lower() in ("", "null")
        or (check.optional and check.kind is not str and stripped.lower() == "none")
    ):
        return None
    for literal in check.also:
        if stripped == str(literal):
            return literal
    if check.items:
        return tuple(_one(check.kind, part) for part in re.split(r"[,\s]+", stripped) if part)
    return _one(check.kind, stripped)


def _one(kind: type, text: str) -> Any:
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an int, got {text!r}") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    return text


def text_parser(check: Check) -> Callable[[str], Any]:
    """`parse_text` bound to `check`, named for argparse's messages."""

    def parse(text: str) -> Any:
        return parse_text(check, text)

    parse.__name__ = check.kind.__name__
    return parse


def nested_configs(cls: type) -> dict[str, type]:
    """Fields of `cls` that hold a config dataclass of their own (its default
    factory), by name: ImagePipelineConfig's `trainer`, RlPipelineConfig's `dqn_config`."""
    out = {}
    for f in dataclasses.fields(cls):
        factory = f.default_factory
        if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
            out[f.name] = factory
    return out


def docstrings(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal under it), whitespace folded;
    a subclass's fields and its dataclass bases' alike."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            out.update(_own_docstrings(klass))
    return out


@functools.cache
def _own_docstrings(cls: type) -> dict[str, str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    out = {}
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            out[node.target.id] = " ".join(after.value.value.split())
    return out


def _number(value: float) -> str:
    """A bound as messages show it: 0.01, 10000, 100_000_000."""
    if float(value).is_integer():
        return f"{int(value):_}" if abs(value) >= 1_000_000 else str(int(value))
    return f"{value:g}"


def _is_kind(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _in_range(value: Any, low, high, low_open: bool, high_open: bool) -> bool:
    """low <= value <= high (or strict) for a finite number; NaN and inf are out."""
    if not math.isfinite(value):
        return False
    if low is not None and (value <= low if low_open else value < low):
        return False
    return high is None or (value < high if high_open else value <= high)
