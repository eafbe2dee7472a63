"""Smoke training, policy export, and resume after a killed run."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from models.dqn.export import ACTION_KEY, OBSERVATION_KEY, Q_VALUES_KEY, SERVING_SIGNATURE
from models.dqn.train import CHECKPOINT_SUBDIR, next_boundary, train


def test_next_boundary_stops_at_train_eval_learning_start_and_budget(tiny_config):
    assert next_boundary(0, tiny_config, 10_000) == 50
    assert next_boundary(90, tiny_config, 10_000) == 100
    assert next_boundary(280, tiny_config, 10_000) == 300
    assert next_boundary(300, tiny_config, 320) == 320


@pytest.mark.slow
def test_smoke_training_exports_a_policy_whose_serving_default_acts_on_a_batch(
    tmp_path, tiny_config
):
    export_dir = str(tmp_path / "policy")
    result = train(
        "CartPole-v1",
        tiny_config,
        0,
        600,
        str(tmp_path / "run"),
        export_dir,
        str(tmp_path / "tb"),
        progress=False,
    )

    assert result.env_steps == 600 and result.start_step == 0
    assert [h["env_step"] for h in result.history] == [300, 600]
    assert result.best_mean_return == max(h["mean_return"] for h in result.history) > 0
    assert result.train_seconds > 0 and result.steps_per_second > 0
    assert tf.io.gfile.glob(str(tmp_path / "tb" / "events.out.tfevents.*"))

    loaded = tf.saved_model.load(export_dir)
    assert {"action", SERVING_SIGNATURE} <= set(loaded.signatures)
    observations = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    out = loaded.signatures[SERVING_SIGNATURE](**{OBSERVATION_KEY: tf.constant(observations)})
    assert out[ACTION_KEY].shape == (5,)
    assert out[Q_VALUES_KEY].shape == (5, 2)
    np.testing.assert_array_equal(
        out[ACTION_KEY].numpy(), np.argmax(out[Q_VALUES_KEY].numpy(), axis=1)
    )
    assert set(out[ACTION_KEY].numpy()) <= {0, 1}
    # TF-Agents' own signature agrees with the plain one.
    tf_agents_out = loaded.signatures["action"](
        arg_0_step_type=tf.zeros([5], tf.int32),
        arg_0_reward=tf.zeros([5]),
        arg_0_discount=tf.ones([5]),
        arg_0_observation=tf.constant(observations),
    )
    np.testing.assert_array_equal(tf_agents_out["action"].numpy(), out[ACTION_KEY].numpy())


_CHILD = """
import sys
from models.dqn.config import DqnConfig
from models.dqn.train import train
train("CartPole-v1", DqnConfig.from_json(sys.argv[1]), 0, 1_000_000, sys.argv[2], progress=False)
"""


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint_not_from_zero(tmp_path, tiny_config):
    run_dir = str(tmp_path / "run")
    ckpt_dir = os.path.join(run_dir, CHECKPOINT_SUBDIR)
    config = dataclasses.replace(tiny_config, stop_at_threshold=False)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, config.to_json(), run_dir],
        env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while tf.train.latest_checkpoint(ckpt_dir) is None:
            assert child.poll() is None, "training subprocess exited before checkpointing"
            assert time.time() < deadline, "no checkpoint within 120 s"
            time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    checkpointed = int(tf.train.latest_checkpoint(ckpt_dir).rsplit("-", 1)[1])
    assert checkpointed > 0 and checkpointed % config.eval_interval == 0

    result = train("CartPole-v1", config, 0, checkpointed + 300, run_dir, progress=False)

    assert result.start_step == checkpointed
    assert result.env_steps == checkpointed + 300
    # History from before the kill is kept, and one evaluation was added.
    assert [h["env_step"] for h in result.history][-2:] == [checkpointed, checkpointed + 300]
