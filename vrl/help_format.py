"""One help formatter for every `vrl` command: each option's help states its real default.

argparse's ArgumentDefaultsHelpFormatter appends "(default: VALUE)" to every option,
which misleads where the value is a stand-in: "(default: None)" for a flag whose real
default lives in the trainer's config, "(default: True)" for a `--no-...` switch.
`DefaultsFormatter` appends the default only where it says something:

- an option marked with `show_default(action, source)` gets "(default: <source()>)",
  computed only when help is printed (every flag generated from a config: vrl/flags.py);
- a help text that already states its default (it says "default") is left as written;
- a switch (an option that takes no value) gets "(default: off)";
- an option whose default is None and that has no such mark gets nothing: it has no
  default (an optional input, such as a file to read);
- otherwise the argparse default, with True/False as on/off and empty lists as none.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def describe(value: object) -> str:
    """A default as help shows it: on/off for booleans, `none` for None or empty,
    space-separated items for a list."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None or value in ("", [], ()):
        return "none"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


class _Shown:
    """A default computed when help is printed (argparse formats it with %s)."""

    def __init__(self, source: Callable[[], object]) -> None:
        self._source = source

    def __str__(self) -> str:
        return describe(self._source())


def show_default(action: argparse.Action, source: Callable[[], object]) -> argparse.Action:
    """Marks `action`'s help to show `source()` as its default (argparse's own default
    stays, e.g. None for "not given, use the config's")."""
    action.shown_default = _Shown(source)
    return action


def states_default(help_text: str | None) -> bool:
    """Whether a help text already says what happens when its option is not given."""
    return help_text is not None and "default" in help_text.lower()


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """See the module docstring."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.help == argparse.SUPPRESS or action.required or not action.option_strings:
            return text
        if getattr(action, "shown_default", None) is not None:
            return f"{text} (default: %(shown_default)s)"
        if states_default(text) or action.default == argparse.SUPPRESS:
            return text
        if action.nargs == 0:
            return f"{text} (default: off)"
        if action.default is None:
            return text
        return f"{text} (default: {describe(action.default).replace('%', '%%')})"


def use_everywhere(parser: argparse.ArgumentParser) -> None:
    """Sets `DefaultsFormatter` on `parser` and every subcommand parser below it."""
    parser.formatter_class = DefaultsFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                use_everywhere(sub)
