"""The PolicyEvaluator records what its evaluation episodes showed the policy: TFDV
statistics of every observation (one feature per dimension) and greedy action."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv

from components.policy_evaluator import ops
from components.policy_evaluator.report import write_observation_statistics
from contracts import files
from contracts.features import ACTION_KEY, OBSERVATION_KEY, Q_VALUES_KEY
from models.dqn.observation_features import ACTION, ObservationRecorder, feature_columns


class PolePolicy(tf.Module):
    """A linear state-feedback controller (push right when 1 x + 1.6 x' + 18 theta
    + 3 theta' > 0): it balances CartPole for all 500 steps and keeps the cart near
    the middle, so episodes of other seeds visit the same states."""

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name=OBSERVATION_KEY)])
    def serve(self, observation):
        lean = tf.linalg.matvec(observation, tf.constant([1.0, 1.6, 18.0, 3.0]))
        q_values = tf.stack([-lean, lean], axis=1)
        return {ACTION_KEY: tf.argmax(q_values, axis=1), Q_VALUES_KEY: q_values}


def save_pole_policy(path: str) -> str:
    """The policy as a SavedModel with its plain serving signature; returns `path`."""
    module = PolePolicy()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


def test_every_evaluation_step_is_recorded_as_tfdv_statistics(tmp_path):
    saved = save_pole_policy(str(tmp_path / "policy"))
    recorder = ObservationRecorder()
    protocol = ops.Protocol("CartPole-v1", episodes=3, seed=0)
    returns, _ = ops.evaluate_saved_policy(saved, protocol, recorder)
    # CartPole pays 1 per step: one observation per point of return.
    assert recorder.rows == int(returns.sum())
    write_observation_statistics(str(tmp_path), recorder.columns())
    stats = tfdv.load_stats_text(str(tmp_path / files.POLICY_OBSERVATION_STATS_FILE))
    dataset = stats.datasets[0]
    assert dataset.num_examples == int(returns.sum())
    names = {f.path.step[0]: f for f in dataset.features}
    assert set(names) == {f"observation_{i}" for i in range(4)} | {ACTION}
    actions = {v.value for v in names[ACTION].string_stats.top_values}
    assert actions == {"0", "1"}  # the policy answers both ways


def test_recorder_stops_at_its_row_limit_without_changing_the_answers():
    recorder = ObservationRecorder(max_rows=5)
    greedy = recorder.wrap(lambda obs: (obs[:, 0] > 0).astype(np.int64))
    batch = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]], np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(greedy(batch), [1, 0, 1])
    assert recorder.rows == 5
    columns = recorder.columns()
    assert list(columns[ACTION]) == ["1", "0", "1", "1", "0"]
    np.testing.assert_array_equal(columns["observation_0"], [1, -1, 2, 1, -1])


def test_image_frames_become_channel_means_and_other_shapes_are_refused():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    frames[0, ..., 1] = 200
    columns = feature_columns(frames, np.array([1, 0]))
    np.testing.assert_array_equal(columns["observation_channel_1_mean"], [200.0, 0.0])
    assert "observation_0" not in columns
    with pytest.raises(ValueError, match="1 actions for 2 observations"):
        feature_columns(np.zeros((2, 3)), np.array([0]))
    with pytest.raises(ValueError, match=r"shape \[2, 3, 3\]: expected vectors \[N, D\]"):
        feature_columns(np.zeros((2, 3, 3)), np.array([0, 1]))
