"""Pure helpers for the DqnTrainer executor."""

from __future__ import annotations

import os

from absl import logging

from contracts import warmup
from models.dqn.config import DqnConfig

FRESH_HINT = "set fresh (`vrl run rl --fresh`) to start over"


def checkpoint_dir(checkpoint_base: str, env_id: str, seed: int, config: DqnConfig) -> str:
    """Deterministic run folder for checkpoints, keyed by env, seed and config.

    TFX gives every execution a fresh output URI, so checkpoints live here
    instead: a killed run re-executed with the same env, seed and config finds
    its checkpoints and resumes. The step budget is not part of the key, so a
    larger budget continues a finished run.
    """
    return os.path.join(checkpoint_base, f"{env_id}-seed{seed}-{config.fingerprint()}")


def previous_run_step(run_dir: str) -> int | None:
    """Env step of the newest checkpoint in `run_dir`, None when there is none."""
    import tensorflow as tf

    from models.dqn.run_state import CHECKPOINT_SUBDIR

    latest = tf.train.latest_checkpoint(os.path.join(run_dir, CHECKPOINT_SUBDIR))
    return None if latest is None else int(latest.rsplit("-", 1)[1])


def prepare_run_dir(run_dir: str, fresh: bool) -> int | None:
    """Says in one line when a previous run with the same env, seed and config will be
    continued; with `fresh`, deletes its checkpoints so training starts over. Returns
    the env step the run continues from (None: from scratch)."""
    import tensorflow as tf

    step = previous_run_step(run_dir)
    if step is None:
        return None
    if fresh:
        logging.warning(
            "DqnTrainer: fresh: deleting the previous run's checkpoints (env step %d) in %s",
            step,
            run_dir,
        )
        tf.io.gfile.rmtree(run_dir)
        return None
    logging.warning(
        "DqnTrainer: continuing a previous run with the same env, seed and config from env "
        "step %d (%s); %s",
        step,
        run_dir,
        FRESH_HINT,
    )
    return step


def write_policy_warmup(saved_model_dir: str, env_id: str, seed: int, count: int = 3) -> None:
    """TF Serving's warmup file from `count` real start observations of the env,
    inside the exported policy, so every pushed version warms up before serving.
    Vector observations go as float32 [N, D], image observations as uint8 [N, H, W, C],
    as the policy's signature takes them."""
    import numpy as np

    from models.dqn.envs import make_gym

    env = make_gym(env_id)
    try:
        observations = np.stack([env.reset(seed=seed + i)[0] for i in range(count)])
    finally:
        env.close()
    warmup.write_warmup_file(saved_model_dir, warmup.policy_requests("", observations))
