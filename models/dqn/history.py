"""What a DQN training run returns, and its evaluation history kept next to the
checkpoints (cut back to the restored step when a run resumes)."""

from __future__ import annotations

import dataclasses
import json
import os

import tensorflow as tf

from contracts.files import EVAL_HISTORY_FILE


@dataclasses.dataclass
class TrainResult:
    """What a training run did; `history` lists every greedy evaluation."""

    start_step: int
    env_steps: int
    train_seconds: float
    train_cpu_seconds: float
    eval_seconds: float
    best_mean_return: float
    best_step: int
    solved_step: int | None
    history: list[dict[str, float]]
    train_steps: int = 0
    """Gradient updates over the whole run (all resumes)."""
    best_train_steps: int = 0
    """Gradient updates the best (exported) network had; 0: it never trained."""
    learning_starts: int = 0
    """Env step the first gradient update was due at (later when a resumed run refilled
    its replay memory)."""
    replay_transitions: int = 0
    """Transitions the replay memory was allocated for: min(capacity, what the budget fills)."""
    replay_mib: float = 0.0
    """MiB that replay memory takes."""

    @property
    def steps_per_second(self) -> float:
        """Env steps per training second over the whole run (all resumes)."""
        return self.env_steps / self.train_seconds if self.train_seconds > 0 else float("nan")


def read_history(run_dir: str, env_step: int) -> list[dict[str, float]]:
    """Eval history saved with the checkpoint, cut at the restored env step."""
    path = os.path.join(run_dir, EVAL_HISTORY_FILE)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        return [h for h in json.load(f) if h["env_step"] <= env_step]


def write_history(run_dir: str, history: list[dict[str, float]]) -> None:
    """Writes the eval history next to the checkpoints (before each checkpoint)."""
    with tf.io.gfile.GFile(os.path.join(run_dir, EVAL_HISTORY_FILE), "w") as f:
        json.dump(history, f, indent=1)
