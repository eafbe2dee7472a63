"""The GPU paths run on the CPU fallback when forced: mixed precision, a batch of
envs, and checkpoints without the replay memory that a resume refills."""

import dataclasses
import logging
import os
import warnings

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec

from models.dqn.agent import build_q_network
from models.dqn.config import preset
from models.dqn.export import ACTION_KEY, OBSERVATION_KEY, Q_VALUES_KEY, SERVING_SIGNATURE
from models.dqn.train import CHECKPOINT_SUBDIR, train

ENV_ID = "MinAtar/Breakout-v1"
OBS_SPEC = tensor_spec.BoundedTensorSpec((10, 10, 4), tf.uint8, 0, 1)
ACTION_SPEC = tensor_spec.BoundedTensorSpec([], tf.int64, 0, 2)


def test_q_network_builds_without_the_shared_initializer_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q_net = build_q_network(OBS_SPEC, ACTION_SPEC, (128,))
        q_net.create_variables(OBS_SPEC)
        q_net.copy(name="Target").create_variables(OBS_SPEC)
    assert not [w for w in caught if "unseeded" in str(w.message)]
    conv, dense = [v.numpy() for v in q_net.trainable_variables if "kernel" in v.name][:2]
    # One shared unseeded instance gave every layer the same stateless seed: the conv
    # kernel was a scaled copy of the dense kernel's first values (correlation 1.0).
    assert abs(np.corrcoef(conv.ravel()[:64], dense.ravel()[:64])[0, 1]) < 0.9


def test_mixed_precision_q_network_keeps_float32_variables_and_q_values():
    q_net = build_q_network(OBS_SPEC, ACTION_SPEC, (128,), mixed_precision=True)
    q_values, _ = q_net(tf.ones([2, 10, 10, 4], tf.uint8))
    assert q_values.dtype == tf.float32 and q_values.shape == (2, 3)
    assert {v.dtype for v in q_net.variables} == {tf.float32}
    float32_net = build_q_network(OBS_SPEC, ACTION_SPEC, (128,))
    float32_net.create_variables(OBS_SPEC)
    assert q_net.count_params() == float32_net.count_params()


def _losses(log_dir: str) -> list[float]:
    losses = []
    for path in tf.io.gfile.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            losses += [
                float(tf.make_ndarray(v.tensor))
                for v in event.summary.value
                if v.tag == "train/loss"
            ]
    return losses


@pytest.mark.slow
def test_forced_mixed_precision_on_two_envs_trains_exports_and_resumes_without_replay(
    tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    config = dataclasses.replace(
        preset(ENV_ID),
        num_envs=2,
        mixed_precision="on",
        replay_checkpoint_limit_mb=0,
        replay_capacity=1_000,
        learning_starts=32,
        train_freq=1,  # two phases per vector step of two envs
        gradient_steps=1,
        batch_size=16,
        epsilon_decay_steps=100,
        eval_interval=96,
        eval_episodes=1,
        max_episode_frames=100,
    )
    run_dir, export_dir, log_dir = (str(tmp_path / d) for d in ("run", "policy", "tb"))
    result = train(ENV_ID, config, 0, 96, run_dir, export_dir, log_dir, progress=False)

    assert result.env_steps == 96 and [h["env_step"] for h in result.history] == [96]
    losses = _losses(log_dir)
    assert len(losses) == (96 - 32) // 2 and all(np.isfinite(losses))
    out = tf.saved_model.load(export_dir).signatures[SERVING_SIGNATURE](
        **{OBSERVATION_KEY: tf.ones([3, 10, 10, 4], tf.uint8)}
    )
    assert out[ACTION_KEY].dtype == tf.int64 and set(out[ACTION_KEY].numpy()) <= {0, 1, 2}
    assert out[Q_VALUES_KEY].dtype == tf.float32
    checkpoint = tf.train.latest_checkpoint(os.path.join(run_dir, CHECKPOINT_SUBDIR))
    assert not [n for n, _ in tf.train.list_variables(checkpoint) if "replay_buffer" in n]

    resumed = train(ENV_ID, config, 0, 136, run_dir, progress=False)
    assert resumed.start_step == 96 and resumed.env_steps == 136
    assert "refilling it for 32 env steps, training again from step 128" in caplog.text
