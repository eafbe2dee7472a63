"""Seeds and op determinism: the root cause in-process, the whole run across processes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tf_keras

from models.reproducibility import (
    op_determinism_enabled,
    restores_op_determinism,
    seed_everything,
)


def _unseeded_dense_kernel() -> np.ndarray:
    # An initializer without a seed of its own (as the Q-network's layers had before).
    layer = tf_keras.layers.Dense(4, kernel_initializer=tf_keras.initializers.VarianceScaling())
    layer.build((None, 3))
    return layer.kernel.numpy()


def test_seed_everything_repeats_unseeded_tf_keras_initializers():
    # tf_keras draws seeds for unseeded initializers from Python's `random`,
    # which tf.random.set_seed and np.random.seed leave alone.
    seed_everything(7, deterministic=False)
    first = _unseeded_dense_kernel()
    seed_everything(7, deterministic=False)
    again = _unseeded_dense_kernel()
    seed_everything(8, deterministic=False)
    other = _unseeded_dense_kernel()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_training_function_leaves_the_op_determinism_switch_as_it_found_it():
    @restores_op_determinism
    def deterministic_training():
        seed_everything(0, deterministic=True)
        assert op_determinism_enabled()
        raise RuntimeError("training failed")

    assert not op_determinism_enabled()
    with pytest.raises(RuntimeError, match="training failed"):
        deterministic_training()
    assert not op_determinism_enabled()


# One child process: short CartPole and MinAtar runs, one after the other (one
# TensorFlow import for both), each printing its TensorBoard scalars (mean loss
# per training phase, average training-episode return) and greedy evaluations.
_CHILD = """
import dataclasses, json, tempfile
import tensorflow as tf
from models.dqn.config import preset
from models.dqn.train import train

for env_id, steps, overrides in RUNS:
    config = dataclasses.replace(preset(env_id), **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(env_id, config, 3, steps, tmp + "/run", log_dir=tmp + "/tb", progress=False)
        curve = []
        for path in sorted(tf.io.gfile.glob(tmp + "/tb/events.out.tfevents.*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    if value.tag in ("train/loss", "train/episode_return"):
                        number = float(tf.make_ndarray(value.tensor))
                        curve.append([event.step, value.tag, number])
    history = [h["mean_return"] for h in result.history]
    print("CURVE " + json.dumps({"env": env_id, "curve": curve, "history": history}))
"""
RUNS = [
    # The CartPole preset with the first training phases brought forward.
    (
        "CartPole-v1",
        1_500,
        dict(
            learning_starts=500,
            train_freq=250,
            gradient_steps=64,
            eval_interval=1_500,
            eval_episodes=5,
        ),
    ),
    # The MinAtar preset (conv Q-network on uint8 frames stored once), shortened:
    # 200 random steps, then 10 updates every 20 steps up to 600.
    (
        "MinAtar/Breakout-v1",
        600,
        dict(
            learning_starts=200,
            train_freq=20,
            gradient_steps=10,
            replay_capacity=1_000,
            epsilon_decay_steps=600,
            eval_interval=600,
            eval_episodes=2,
            max_episode_frames=2_000,
        ),
    ),
]


def _run_children(count: int = 2) -> list[dict[str, dict]]:
    """Runs `count` processes at once (each with its own hash seed); returns, per
    process, the JSON it printed for each env."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONHASHSEED", None)
    code = _CHILD.replace("RUNS", repr(RUNS))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=900)
        assert child.returncode == 0, err[-3000:]
        runs = [json.loads(x[len("CURVE ") :]) for x in out.splitlines() if x.startswith("CURVE ")]
        results.append({run["env"]: run for run in runs})
    return results


def _losses(run: dict) -> list[float]:
    return [v for _, tag, v in run["curve"] if tag == "train/loss"]


@pytest.mark.slow
def test_same_seed_gives_identical_cartpole_and_minatar_learning_curves_in_two_processes():
    first, second = _run_children()

    cartpole, minatar = first["CartPole-v1"], first["MinAtar/Breakout-v1"]
    assert len(_losses(cartpole)) == 4  # training phases at 750, 1000, 1250, 1500
    assert any(tag == "train/episode_return" for _, tag, _ in cartpole["curve"])
    assert len(_losses(minatar)) == 20  # phases at 220, 240, ..., 600
    assert len(set(_losses(minatar))) > 1
    assert len(cartpole["history"]) == len(minatar["history"]) == 1
    assert first == second  # bit for bit: every loss, return and evaluation
