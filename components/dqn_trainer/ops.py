"""Pure helpers for the DqnTrainer executor."""

from __future__ import annotations

import os

from models.dqn.config import DqnConfig


def checkpoint_dir(checkpoint_base: str, env_id: str, seed: int, config: DqnConfig) -> str:
    """Deterministic run folder for checkpoints, keyed by env, seed and config.

    TFX gives every execution a fresh output URI, so checkpoints live here
    instead: a killed run re-executed with the same env, seed and config finds
    its checkpoints and resumes. The step budget is not part of the key, so a
    larger budget continues a finished run.
    """
    return os.path.join(checkpoint_base, f"{env_id}-seed{seed}-{config.fingerprint()}")
