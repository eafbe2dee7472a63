"""Training progress: a tqdm bar on a terminal, plain periodic log lines elsewhere.

A bar redraws itself with carriage returns; written to a file (a cron log, a
Kubeflow pod's log) that is one line growing by every redraw. Off a terminal
the run logs a plain line every `LINE_FRACTION` of the budget instead.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from tqdm import tqdm

LINE_FRACTION = 0.1
"""Share of the step budget between two plain progress lines."""


class ProgressLines:
    """The part of tqdm's interface the training loop uses, as plain log lines."""

    def __init__(self, total: int, initial: int, desc: str):
        self.total, self.n, self.desc = total, initial, desc
        self._every = max(1, int(total * LINE_FRACTION))
        self._next = (initial // self._every + 1) * self._every
        self._postfix = ""

    def update(self, steps: int) -> None:
        """Advances by `steps`; logs one line each time a tenth of the budget is crossed."""
        self.n += steps
        if self.n >= self._next or self.n >= self.total:
            self._next = (self.n // self._every + 1) * self._every
            logging.info(
                "%s: %d/%d env steps (%.0f%%)%s",
                self.desc,
                self.n,
                self.total,
                100.0 * self.n / max(self.total, 1),
                self._postfix,
            )

    def set_postfix(self, **values: str) -> None:
        """Values shown on the next line (e.g. the latest evaluation return)."""
        self._postfix = "".join(f", {k} {v}" for k, v in values.items())

    def close(self) -> None:
        """Nothing to flush: every line was written whole."""


def make_progress(
    total: int, initial: int, desc: str, enabled: bool, stream: TextIO | None = None
) -> tqdm | ProgressLines:
    """A tqdm bar when `stream` (tqdm's, stderr by default) is a terminal, plain
    lines when it is not, a silent (disabled) bar when progress is off."""
    if not enabled:
        return tqdm(total=total, disable=True)
    stream = sys.stderr if stream is None else stream
    if stream.isatty():
        return tqdm(total=total, initial=initial, unit="step", desc=desc, file=stream)
    return ProgressLines(total, initial, desc)
