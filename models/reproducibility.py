"""Reproducible training runs: every seed from one number, and TensorFlow op determinism.

Why the same seed used to give different DQN runs (measured: CartPole-v1 seed
0 solved at 17.5k env steps in one process and 30k in another, and the first
training phase's mean loss already differed): the Q-network's initial weights
came from tf_keras initializers built without a seed (the Q-networks now use
TF-Agents' default initializers, seeded from TensorFlow's global seed; any
other unseeded tf_keras initializer still behaves as follows), and tf_keras draws
the seeds of such initializers from Python's `random` module
(`tf_keras.backend.RandomGenerator._create_seed`). `tf.random.set_seed` and
`np.random.seed`, the two seeds the loop set, do not reach it, so every
process started from other weights. `tf_keras.utils.set_random_seed` seeds
Python, NumPy, TensorFlow and tf_keras' own seed generator together.

Op determinism (`tf.config.experimental.enable_op_determinism`) is the second
half: it makes the kernels that may reduce in a varying order (most of them
on GPUs: cuDNN convolutions, scatter and segment sums, softmax cross-entropy)
pick deterministic algorithms, serialises `tf.data` stages that hold
stateful ops, and makes TensorFlow raise on random ops that have no seed
rather than draw a fresh one. On one CPU the seeds alone already repeat the
run; op determinism is what carries that to GPUs and to input pipelines.

The switch is process-wide, so `restores_op_determinism` puts it back the way
it was when a training function returns: a DQN trainer in the local runner
must not leave later components, or later tests, running deterministically.

What these settings cannot cover: a run resumed from a checkpoint continues
with fresh random streams (the kernels' generator state is not saved), and
other hardware, TensorFlow versions or thread counts may give other numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from absl import logging

F = TypeVar("F", bound=Callable)


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seeds Python's `random`, NumPy's global generator, TensorFlow's global seed
    (which also restarts its per-op seed counter) and tf_keras' seed generator
    with `seed`; turns TensorFlow op determinism on or off as `deterministic` says.

    Call it at the start of a training run, before any model or dataset is built.
    """
    import tf_keras  # the Keras the models use, whatever tf.keras resolves to

    tf_keras.utils.set_random_seed(seed)
    set_op_determinism(deterministic)
    logging.info(
        "Seeded Python, NumPy and TensorFlow with %d; op determinism %s", seed, deterministic
    )


def op_determinism_enabled() -> bool:
    """Whether TensorFlow op determinism is on in this process."""
    from tensorflow.python.framework import config as tf_config

    return bool(tf_config.is_op_determinism_enabled())


def set_op_determinism(enabled: bool) -> None:
    """Turns TensorFlow op determinism on or off for the whole process."""
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    if enabled:
        tf.config.experimental.enable_op_determinism()
    else:
        # Not exported by tf.config, but TensorFlow's own test utilities use it;
        # without it a deterministic run would leave the switch on for the next
        # run in the same process.
        tf_config.disable_op_determinism()


def restores_op_determinism(fn: F) -> F:
    """Decorator: the op-determinism switch is put back when `fn` returns or raises."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        before = op_determinism_enabled()
        try:
            return fn(*args, **kwargs)
        finally:
            set_op_determinism(before)

    return wrapper  # type: ignore[return-value]
