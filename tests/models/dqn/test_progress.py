"""Progress off a terminal is plain lines (a cron log gets no carriage returns)."""

import io
import logging

from tqdm import tqdm

from models.dqn.progress import ProgressLines, make_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_progress_is_a_plain_line_per_tenth_of_the_budget(caplog):
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    progress = make_progress(1_000, 0, "CartPole-v1", enabled=True, stream=stream)
    assert isinstance(progress, ProgressLines)
    for _ in range(40):
        progress.update(25)
        progress.set_postfix(eval_return="9.5")
    progress.close()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("CartPole")]
    assert len(lines) == 10
    assert lines[0] == "CartPole-v1: 100/1000 env steps (10%), eval_return 9.5"
    assert lines[-1].startswith("CartPole-v1: 1000/1000 env steps (100%)")
    assert stream.getvalue() == "" and not any("\r" in line for line in lines)


def test_a_resumed_run_counts_from_where_it_was():
    progress = ProgressLines(total=1_000, initial=450, desc="x")
    progress.update(10)
    assert progress.n == 460


def test_on_a_terminal_it_is_a_tqdm_bar_and_off_when_disabled():
    assert isinstance(make_progress(10, 0, "x", enabled=True, stream=_Terminal()), tqdm)
    silent = make_progress(10, 0, "x", enabled=False)
    assert isinstance(silent, tqdm) and silent.disable
