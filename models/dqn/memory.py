"""Replay memory sizes and the budget check, without TensorFlow (the command
line checks a run's replay memory before starting it)."""

from __future__ import annotations

import os

import numpy as np

BUDGET_FRACTION = 0.8
"""Share of the machine's available memory a replay memory may take."""
# action int32, reward and discount float32, two step types uint8, episode start int64
PER_TRANSITION_OVERHEAD = 4 + 4 + 4 + 1 + 1 + 8


def bytes_per_transition(frame_shape: tuple[int, ...]) -> int:
    """Bytes one stored step costs: one uint8 frame plus the scalars."""
    return int(np.prod(frame_shape)) + PER_TRANSITION_OVERHEAD


def stored_transitions(capacity: int, num_envs: int = 1) -> int:
    """Transitions a replay memory of `capacity` keeps over `num_envs` env streams:
    each stream keeps capacity // num_envs, so the total rounds down to a multiple."""
    return (capacity // num_envs) * num_envs


def replay_transitions(capacity: int, budget: int, num_envs: int = 1) -> int:
    """Transitions to allocate for a run of `budget` env steps: no more than it can
    fill (the budget in whole batches of `num_envs`, at least two per stream), and
    no more than `capacity`."""
    fill = -(-budget // num_envs) * num_envs
    return min(capacity, max(fill, 2 * num_envs))


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux), else free physical pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_budget(
    capacity: int,
    frame_shape: tuple[int, ...],
    available: int | None = None,
    num_envs: int = 1,
) -> int:
    """Bytes the replay memory of `num_envs` streams will take (bytes per transition
    do not depend on the streams); raises MemoryError (one line: what is needed,
    what may be used, the capacity that fits) when that exceeds BUDGET_FRACTION
    of the available memory."""
    needed = stored_transitions(capacity, num_envs) * bytes_per_transition(frame_shape)
    available = available_memory_bytes() if available is None else available
    if needed > BUDGET_FRACTION * available:
        fits = int(BUDGET_FRACTION * available // bytes_per_transition(frame_shape))
        raise MemoryError(
            f"replay memory of {capacity:_} transitions needs {needed / 2**30:.2f} GiB but only "
            f"{BUDGET_FRACTION * available / 2**30:.2f} GiB ({BUDGET_FRACTION:.0%} of the "
            f"available memory) may be used; set --dqn replay_capacity={fits} or less"
        )
    return needed
