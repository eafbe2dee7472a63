"""Which unlabelled images to label next: uncertainty scores and budgeted selection.

Pure NumPy, no TensorFlow: `vrl harvest` and bench/active_learning.py call the
same functions. Scores are "higher = more informative", so every strategy picks
from the top: margin sampling takes the smallest gap between the two most
probable classes, entropy sampling the flattest distribution, random a seeded
shuffle (the baseline uncertainty sampling has to beat).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

MARGIN = "margin"
ENTROPY = "entropy"
RANDOM = "random"
STRATEGIES = (MARGIN, ENTROPY, RANDOM)


def margin(probabilities: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability of each row (0: a tie, 1: certain)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities must be [examples, classes>=2], got shape {p.shape}")
    top2 = np.sort(p, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Shannon entropy of each row in nats (0: certain, ln K: uniform)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be [examples, classes], got shape {p.shape}")
    safe = np.where(p > 0, p, 1.0)  # 0 * log 0 counts as 0
    return -np.sum(p * np.log(safe), axis=1)


def informativeness(probabilities: np.ndarray, strategy: str, seed: int = 0) -> np.ndarray:
    """One score per row, higher = label it sooner, for `strategy` in STRATEGIES."""
    if strategy == MARGIN:
        return -margin(probabilities)
    if strategy == ENTROPY:
        return entropy(probabilities)
    if strategy == RANDOM:
        return np.random.default_rng(seed).random(len(probabilities))
    raise ValueError(f"strategy {strategy!r}; expected one of {STRATEGIES}")


def select(
    keys: Sequence[str],
    scores: np.ndarray,
    budget: int,
    exclude: Collection[str] = (),
) -> list[int]:
    """Indices of at most `budget` rows, highest score first.

    Rows whose key (an image's sha256) is in `exclude` are never picked; of
    rows sharing a key only the best-scored one can be (ties: the first). A
    budget larger than what is left takes all of it.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    if len(keys) != len(scores):
        raise ValueError(f"{len(keys)} keys but {len(scores)} scores")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    picked: list[int] = []
    seen = set(exclude)
    for i in order:
        if len(picked) >= budget:
            break
        if keys[i] in seen:
            continue
        seen.add(keys[i])
        picked.append(int(i))
    return picked
