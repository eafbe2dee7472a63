"""What a policy saw, as feature columns: the same for its evaluation episodes (the
PolicyEvaluator records them) and for the observations served traffic sends it
(`vrl monitor` reads them from the request logs), so TFDV can compare the two.

A vector observation [D] gives one column per dimension (`observation_0` ...);
an image observation [H, W, C] gives the mean of each channel
(`observation_channel_0_mean` ...), which moves when the frames get darker,
brighter or change colour, at the cost of one mean per frame. The greedy action
is a categorical column (`action`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ACTION = "action"
MAX_ROWS = 100_000
"""Observations recorded at most per evaluation (later steps are not recorded)."""


def feature_columns(observations: np.ndarray, actions: np.ndarray) -> dict[str, np.ndarray]:
    """Columns of a batch of observations ([N, D] vectors or [N, H, W, C] frames) and
    the actions answered for them ([N]).

    Raises ValueError for any other observation shape."""
    obs = np.asarray(observations)
    if obs.ndim == 2:
        columns = {f"observation_{i}": obs[:, i].astype(np.float64) for i in range(obs.shape[1])}
    elif obs.ndim == 4:
        means = obs.mean(axis=(1, 2), dtype=np.float64)
        columns = {f"observation_channel_{k}_mean": means[:, k] for k in range(obs.shape[3])}
    else:
        raise ValueError(
            f"observations of shape {list(obs.shape)}: expected vectors [N, D] or image "
            "frames [N, H, W, C]"
        )
    acts = np.asarray(actions).reshape(-1)
    if len(acts) != len(obs):
        raise ValueError(f"{len(acts)} actions for {len(obs)} observations")
    columns[ACTION] = np.array([str(int(a)) for a in acts], dtype=object)
    return columns


def concatenate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One set of columns from several batches' (a column a batch lacks is missing there)."""
    names = sorted({name for part in parts for name in part})
    out = {}
    for name in names:
        pieces = []
        for part in parts:
            size = len(next(iter(part.values())))
            empty = np.full(size, None if name == ACTION else np.nan, dtype=object)
            pieces.append(part.get(name, empty))
        out[name] = np.concatenate(pieces) if pieces else np.zeros(0)
    return out


class ObservationRecorder:
    """Wraps a greedy-action function to record what it was shown and answered."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self.rows = 0
        self._parts: list[dict[str, np.ndarray]] = []

    def wrap(self, greedy: Callable[[np.ndarray], np.ndarray]) -> Callable:
        """`greedy`, recording each batch's observations and actions (up to max_rows)."""

        def recorded(observations: np.ndarray) -> np.ndarray:
            actions = greedy(observations)
            room = self.max_rows - self.rows
            if room > 0:
                self._parts.append(feature_columns(observations[:room], np.asarray(actions)[:room]))
                self.rows += min(room, len(observations))
            return actions

        return recorded

    def columns(self) -> dict[str, np.ndarray]:
        """Every recorded observation's columns."""
        return concatenate(self._parts)
