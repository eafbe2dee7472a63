"""A DQN run's state across checkpoints: step counters, epsilon, the best network
so far, timings and the evaluation history, with the checkpointer that saves
them beside the agent and (when it fits) the replay memory."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from models.dqn.history import read_history, write_history

CHECKPOINT_SUBDIR = "checkpoints"


class RunState:
    """Variables a resumed run continues from, and the eval history kept beside them."""

    def __init__(self, epsilon_start: float):
        self.env_step = tf.Variable(0, dtype=tf.int64, name="env_step")
        self.train_step = tf.Variable(0, dtype=tf.int64, name="train_step")
        self.epsilon = tf.Variable(epsilon_start, dtype=tf.float32, name="epsilon")
        self.best_return = tf.Variable(-np.inf, dtype=tf.float64, name="best_return")
        self.best_step = tf.Variable(-1, dtype=tf.int64, name="best_step")
        # Gradient updates the best network had; 0 means it never trained.
        self.best_train_step = tf.Variable(0, dtype=tf.int64, name="best_train_step")
        # [training wall, eval wall, training process CPU]; CPU time is the figure
        # that stays comparable when other jobs share the cores.
        self.seconds = tf.Variable([0.0, 0.0, 0.0], dtype=tf.float64, name="train_eval_cpu_seconds")
        self.history: list[dict[str, float]] = []
        self._manager: tf.train.CheckpointManager | None = None
        self._run_dir = ""

    def restore(self, run_dir: str, replay_key: str | None, **trackables) -> int:
        """Builds the checkpointer over this state and `trackables` (agent, networks,
        metrics; the replay memory under `replay_key` when given), restores the
        newest checkpoint under `run_dir` if any, and returns the env step reached."""
        replay = trackables.pop("replay_buffer")
        if replay_key:
            trackables[replay_key] = replay
        self._run_dir = run_dir
        # TF-Agents' Checkpointer is these two calls; made here so a memory kept
        # under another capacity's key (or a field an older checkpoint lacks) is
        # expected to stay unrestored instead of warned about at exit.
        checkpoint = tf.train.Checkpoint(
            global_step=self.train_step,
            env_step=self.env_step,
            best_return=self.best_return,
            best_step=self.best_step,
            best_train_step=self.best_train_step,
            seconds=self.seconds,
            **trackables,
        )
        ckpt_dir = os.path.join(run_dir, CHECKPOINT_SUBDIR)
        tf.io.gfile.makedirs(ckpt_dir)  # the history is written beside it first
        self._manager = tf.train.CheckpointManager(checkpoint, ckpt_dir, max_to_keep=2)
        checkpoint.restore(self._manager.latest_checkpoint).expect_partial()
        self.history = read_history(run_dir, int(self.env_step.numpy()))
        return int(self.env_step.numpy())

    def save(self) -> None:
        """Writes the history, then a checkpoint at the current env step (on restore
        the history is cut back to the checkpoint's step)."""
        write_history(self._run_dir, self.history)
        self._manager.save(checkpoint_number=self.env_step)

    def solved(self, threshold: float | None) -> bool:
        """Whether the latest evaluation reached `threshold`."""
        return (
            bool(self.history)
            and threshold is not None
            and self.history[-1]["mean_return"] >= threshold
        )

    def keep_if_best(self, mean_return: float, step: int, q_net, best_q_net) -> None:
        """Copies `q_net` into `best_q_net` when it scores higher; a network that has
        trained always beats one that has not (an untrained network's lucky episodes
        are not a policy worth exporting)."""
        trained = int(self.train_step.numpy())
        best_trained = int(self.best_train_step.numpy()) > 0
        if (trained > 0, mean_return) <= (best_trained, float(self.best_return.numpy())):
            return
        self.best_return.assign(mean_return)
        self.best_step.assign(step)
        self.best_train_step.assign(trained)
        for src, dst in zip(q_net.variables, best_q_net.variables, strict=True):
            dst.assign(src)
