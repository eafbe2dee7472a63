"""Command-line flags generated from a config dataclass, the way CleanRL's `Args`
plus `tyro.cli` do it: name, type, choices, default and help come from the field,
its `Check` (models/fields.py) and its docstring, so adding a field to a config
adds its flag.

A field `learning_rate` becomes `--learning-rate`; a bool becomes
`--name/--no-name`; a tuple takes several values. Fields of a nested config
(`ImagePipelineConfig.trainer`, `RlPipelineConfig.dqn_config`) get flags of
their own name, or prefixed with the nested field's name (`--dqn-eval-episodes`)
where the outer config already has that flag. Every flag defaults to "not given"
(None): the config's own default applies, and help shows it.

Written here rather than taken from a library: tyro and simple-parsing are not
in the pinned stack, and the flags must stay argparse actions inside `vrl`'s
existing argparse tree (subcommands, shared formatter, extra hand-written flags).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from models.fields import Check, check_of, docstrings, nested_configs, text_parser
from vrl.help_format import describe, show_default


@dataclasses.dataclass(frozen=True)
class Flag:
    """One generated flag: where its value goes and how it is read."""

    path: tuple[str, ...]
    """("epochs",) for a field of the config, ("trainer", "epochs") for a nested one."""
    option: str
    """The flag, e.g. "--epochs"."""
    check: Check
    default: Any
    help: str

    @property
    def dest(self) -> str:
        """argparse's attribute name: the dotted path ("trainer.epochs")."""
        return ".".join(self.path)


def config_flags(
    cls: type,
    rename: Mapping[str, str] | None = None,
    skip: Iterable[str] = (),
    notes: Mapping[str, str] | None = None,
) -> list[Flag]:
    """The flags of `cls` and of its nested configs.

    Args:
      rename: dotted path -> flag name without dashes ({"data_dir": "data"}), for
        spellings users already rely on.
      skip: dotted paths that get no flag (set another way).
      notes: nested field -> text added to its flags' shown default
        ({"dqn_config": "or the env's preset"}).
    """
    rename, skip, notes = dict(rename or {}), set(skip), dict(notes or {})
    flags: list[Flag] = []
    taken: set[str] = set()
    nested = nested_configs(cls)
    owners = [(cls, (), "")] + [(c, (n,), n.removesuffix("_config")) for n, c in nested.items()]
    for owner, prefix, short in owners:
        docs = docstrings(owner)
        note = notes.get(prefix[0], "") if prefix else ""
        for f in dataclasses.fields(owner):
            path = (*prefix, f.name)
            dotted = ".".join(path)
            check = check_of(f)
            if check is None or dotted in skip:
                continue
            name = rename.get(dotted, f.name.replace("_", "-"))
            if name in taken and short:
                name = f"{short}-{name}"
            taken.add(name)
            default = f.default if f.default is not dataclasses.MISSING else None
            shown = f"{describe(default)}{', ' + note if note else ''}"
            text = docs.get(f.name, "")
            flags.append(Flag(path, f"--{name}", check, shown, text))
    return flags


def add_flags(
    parser: argparse.ArgumentParser,
    flags: list[Flag],
    required: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
    shown: Mapping[str, str] | None = None,
) -> None:
    """Adds `flags` to `parser`.

    Args:
      required: dotted paths whose flag must be given.
      defaults: dotted path -> a default for this command that differs from the
        config's (it is then passed on as if given, and help shows it).
      shown: dotted path -> the default as help states it, where the command
        fills the value in itself ("<home>/serving").
    """
    required, defaults, shown = set(required), dict(defaults or {}), dict(shown or {})
    for flag in flags:
        kwargs: dict[str, Any] = {"dest": flag.dest, "default": defaults.get(flag.dest)}
        check = flag.check
        if check.kind is bool and not check.items:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = text_parser(dataclasses.replace(check, items=False))
            kwargs["metavar"] = flag.option.lstrip("-").replace("-", "_").upper()
            if check.items:
                kwargs["nargs"] = "+"
            if check.choices:
                kwargs["choices"] = check.choices
                kwargs.pop("metavar")
        if flag.dest in required:
            kwargs["required"] = True
        action = parser.add_argument(flag.option, help=_escape(flag.help), **kwargs)
        text = describe(defaults[flag.dest]) if flag.dest in defaults else flag.default
        show_default(action, _constant(shown.get(flag.dest, text)))


def given(args: argparse.Namespace, flags: list[Flag]) -> dict[str, Any]:
    """The values given on the command line, nested like the config:
    {"home": "x", "trainer": {"epochs": 3}}; flags not given are absent."""
    out: dict[str, Any] = {}
    for flag in flags:
        value = getattr(args, flag.dest, None)
        if value is None:
            continue
        if isinstance(value, list):
            value = tuple(value)
        target = out
        for key in flag.path[:-1]:
            target = target.setdefault(key, {})
        target[flag.path[-1]] = value
    return out


def build(cls: type, values: Mapping[str, Any], bases: Mapping[str, Any] | None = None) -> Any:
    """`cls(**values)` with each nested config built from its values: on the
    instance in `bases` when given (a preset), else on its defaults."""
    values, bases = dict(values), dict(bases or {})
    for name, nested_cls in nested_configs(cls).items():
        inner = values.pop(name, {})
        base = bases.get(name)
        values[name] = dataclasses.replace(base, **inner) if base else nested_cls(**inner)
    return cls(**values)


def _escape(text: str) -> str:
    """argparse %-formats help strings."""
    return text.replace("%", "%%")


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value
