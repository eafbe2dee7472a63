"""What recording observations costs the PolicyEvaluator: the same seeded CartPole
episodes through a policy SavedModel with and without the ObservationRecorder, then
the TFDV statistics of what was recorded, as a ratio to the bare evaluation.

The policy is a linear controller saved with the plain serving signature a pushed
DQN policy has (it balances all 500 steps, so every episode is full length).

  TF_USE_LEGACY_KERAS=1 python bench/policy_observation_stats.py [--episodes 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import tensorflow as tf

from components.policy_evaluator import ops
from components.policy_evaluator.report import write_observation_statistics
from contracts.features import ACTION_KEY, OBSERVATION_KEY, Q_VALUES_KEY
from models.dqn.observation_features import ObservationRecorder


class _Controller(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name=OBSERVATION_KEY)])
    def serve(self, observation):
        lean = tf.linalg.matvec(observation, tf.constant([1.0, 1.6, 18.0, 3.0]))
        q_values = tf.stack([-lean, lean], axis=1)
        return {ACTION_KEY: tf.argmax(q_values, axis=1), Q_VALUES_KEY: q_values}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "policy")
        module = _Controller()
        tf.saved_model.save(module, saved, signatures={"serving_default": module.serve})
        protocol = ops.Protocol("CartPole-v1", args.episodes, seed=0)
        ops.evaluate_saved_policy(saved, protocol)  # warm: first trace, env imports
        start = time.perf_counter()
        returns, _ = ops.evaluate_saved_policy(saved, protocol)
        bare = time.perf_counter() - start
        recorder = ObservationRecorder()
        start = time.perf_counter()
        ops.evaluate_saved_policy(saved, protocol, recorder)
        recorded = time.perf_counter() - start
        start = time.perf_counter()
        import tensorflow_data_validation  # noqa: F401 (its import, once per process)

        imported = time.perf_counter() - start
        start = time.perf_counter()
        write_observation_statistics(tmp, recorder.columns())
        stats = time.perf_counter() - start
    steps = int(returns.sum())
    print(f"{args.episodes} CartPole episodes, {steps} steps, load {os.getloadavg()[0]:.1f}")
    print(f"evaluation               {bare:7.2f} s")
    print(f"evaluation + recording   {recorded:7.2f} s  ({recorded / bare:.2f}x)")
    print(f"TFDV import (once)       {imported:7.2f} s")
    print(f"TFDV statistics, written {stats:7.2f} s  ({stats / bare:.2f}x of the evaluation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
