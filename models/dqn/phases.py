"""The phases of a DQN run, in TF-Agents' Actor/Learner vocabulary.

- `Collector` (TF-Agents' collect actor): steps the training envs with the
  collect policy and feeds every transition to the replay memory and the
  episode metrics, in one compiled loop per call.
- `Learner`: samples n-step windows from the replay memory and runs gradient
  updates, in one compiled loop per call.
- `Evaluator` (the eval actor): greedy episodes of the online Q-network,
  batched, and the best network kept in the run state.

The compiled loops are TF-Agents' `DynamicStepDriver` and `Learner.run`
written as explicit `tf.while_loop`s with autograph off: converting
TF-Agents' policy and agent code costs ~13 s of tracing; explicit loops trace
in under a second (bench/dqn_solve.py measures the phases' speed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from tf_agents.trajectories import trajectory

from models.dqn import envs
from models.dqn.config import DqnConfig
from models.dqn.run_state import RunState

EVAL_SEED_OFFSET = 10_000  # eval episodes never share seeds with training


class Collector:
    """Collect actor: `run(n)` takes n batched env steps with the collect policy."""

    def __init__(self, tf_env, policy, observers: list[Callable]):
        self._env = tf_env

        @tf.function(autograph=False)
        def collect(time_step, num_steps):
            def body(i, time_step):
                action_step = policy.action(time_step)
                next_time_step = tf_env.step(action_step.action)
                traj = trajectory.from_transition(time_step, action_step, next_time_step)
                for observer in observers:
                    observer(traj)
                return i + 1, next_time_step

            start = (tf.constant(0, tf.int64), time_step)
            return tf.while_loop(lambda i, _: i < num_steps, body, start)[1]

        self._collect = collect
        self._time_step = None

    def run(self, batch_steps: int) -> None:
        """Steps every env copy `batch_steps` times (the first call resets them)."""
        if self._time_step is None:
            self._time_step = self._env.reset()
        self._time_step = self._collect(self._time_step, tf.constant(batch_steps, tf.int64))


class Learner:
    """`run(n)`: n gradient updates on uniformly sampled n-step windows; mean loss."""

    def __init__(self, agent, replay, batch_size: int, n_step: int):
        @tf.function(autograph=False)
        def train_phase(num_steps):
            def body(i, total):
                experience, _ = replay.get_next(sample_batch_size=batch_size, num_steps=n_step + 1)
                return i + 1, total + agent.train(experience).loss

            start = (tf.constant(0, tf.int64), tf.constant(0.0))
            total = tf.while_loop(lambda i, _: i < num_steps, body, start)[1]
            return total / tf.cast(num_steps, tf.float32)

        self._train = train_phase

    def run(self, iterations: int) -> float:
        """Runs `iterations` gradient updates; returns their mean loss."""
        return float(self._train(tf.constant(iterations, tf.int64)))


class Evaluator:
    """Eval actor: batched greedy episodes of `q_net`, recorded in the run state."""

    def __init__(self, env_id: str, q_net, best_q_net, config: DqnConfig, seed: int):
        obs_spec = q_net.input_tensor_spec

        # autograph=False here too: converting the Q-network's call took ~20 s per run.
        @tf.function(
            input_signature=[tf.TensorSpec([None, *obs_spec.shape], obs_spec.dtype)],
            autograph=False,
        )
        def greedy(observations):
            return tf.argmax(q_net(observations, training=False)[0], axis=-1)

        self._greedy = greedy
        self._env_id, self._config, self._seed = env_id, config, seed
        self._q_net, self._best_q_net = q_net, best_q_net

    def run(self, state: RunState, step: int) -> np.ndarray:
        """Evaluates at env `step`: appends to the history, keeps the best network,
        adds the time taken to the eval seconds; returns the episode returns."""
        started = time.perf_counter()
        returns = envs.evaluate_batched(
            self._env_id,
            lambda obs: self._greedy(obs).numpy(),
            self._config.eval_episodes,
            self._seed + EVAL_SEED_OFFSET,
            epsilon=self._config.eval_epsilon,
            max_episode_frames=self._config.max_episode_frames,
        )
        state.seconds.assign_add([0.0, time.perf_counter() - started, 0.0])
        state.history.append(
            {
                "env_step": step,
                "mean_return": float(returns.mean()),
                "std_return": float(returns.std()),
                "train_seconds": float(state.seconds[0]),
                "train_cpu_seconds": float(state.seconds[2]),
                "train_steps": int(state.train_step.numpy()),
            }
        )
        state.keep_if_best(float(returns.mean()), step, self._q_net, self._best_q_net)
        return returns
