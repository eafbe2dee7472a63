"""DQN training loop: compiled collect and train phases, batched greedy
evaluation, best-policy keeping, checkpoints that resume, TensorBoard."""

from __future__ import annotations

import dataclasses
import logging
import os
import time

import numpy as np
import tensorflow as tf
from tf_agents.environments import tf_py_environment
from tf_agents.metrics import tf_metrics
from tf_agents.trajectories import trajectory
from tf_agents.utils import common
from tqdm import tqdm

from models import reproducibility
from models.dqn import agent as agent_lib
from models.dqn import envs
from models.dqn.config import DqnConfig, resolve_mixed_precision, resolve_num_envs
from models.dqn.export import export_policy
from models.dqn.gym_envs import frames_per_observation
from models.dqn.history import TrainResult, read_history, write_history
from models.dqn.maths import linear_epsilon, training_phases
from models.dqn.precision import fast_float16_gpu
from models.hparams import write_hparams

__all__ = ["CHECKPOINT_SUBDIR", "TrainResult", "next_boundary", "train"]

CHECKPOINT_SUBDIR = "checkpoints"
EVAL_SEED_OFFSET = 10_000  # eval episodes never share seeds with training


def next_boundary(
    step: int, config: DqnConfig, budget: int, learning_starts: int | None = None
) -> int:
    """Next env step at which collection pauses (train phase, eval, learning start
    (`config.learning_starts` unless given), budget)."""
    learning_starts = config.learning_starts if learning_starts is None else learning_starts
    candidates = [
        (step // config.train_freq + 1) * config.train_freq,
        (step // config.eval_interval + 1) * config.eval_interval,
        budget,
    ]
    if step < learning_starts:
        candidates.append(learning_starts)
    return min(candidates)


@reproducibility.restores_op_determinism
def train(
    env_id: str,
    config: DqnConfig,
    seed: int,
    max_env_steps: int,
    run_dir: str,
    export_dir: str | None = None,
    log_dir: str | None = None,
    threshold: float | None = None,
    progress: bool = True,
) -> TrainResult:
    """Trains a DQN policy on `env_id` for up to `max_env_steps` env steps.

    Resumes from the newest checkpoint under `run_dir` if there is one. The
    greedy policy is evaluated every `config.eval_interval` env steps and at
    the end; the best-scoring Q-network is kept and, when `export_dir` is set,
    exported there as a SavedModel. Stops early once an evaluation reaches
    `threshold` (default: the env's registered reward threshold) if
    `config.stop_at_threshold`. With `config.num_envs` copies of the env, each
    collect call steps whole batches, so the budget and the pauses above are
    reached rounded up to a multiple of the copies.
    """
    if threshold is None:
        threshold = envs.reward_threshold(env_id)
    reproducibility.seed_everything(seed, config.deterministic)

    env_step = tf.Variable(0, dtype=tf.int64, name="env_step")
    train_step = tf.Variable(0, dtype=tf.int64, name="train_step")
    epsilon = tf.Variable(config.epsilon_start, dtype=tf.float32, name="epsilon")
    best_return = tf.Variable(-np.inf, dtype=tf.float64, name="best_return")
    best_step = tf.Variable(-1, dtype=tf.int64, name="best_step")
    # [training wall, eval wall, training process CPU]; CPU time is the figure
    # that stays comparable when other jobs share the cores.
    seconds = tf.Variable([0.0, 0.0, 0.0], dtype=tf.float64, name="train_eval_cpu_seconds")

    num_envs = resolve_num_envs(config.num_envs, bool(tf.config.list_physical_devices("GPU")))
    mixed = resolve_mixed_precision(config.mixed_precision, fast_float16_gpu())
    logging.info("%s: %d env copies per batch, mixed precision %s", env_id, num_envs, mixed)
    spec_env = envs.GymnasiumEnvironment(env_id, seed)
    time_step_spec = tf_py_environment.TFPyEnvironment(spec_env).time_step_spec()
    action_spec = tf_py_environment.TFPyEnvironment(spec_env).action_spec()
    q_net = agent_lib.build_q_network(
        time_step_spec.observation,
        action_spec,
        config.hidden_units,
        config.network,
        mixed_precision=mixed,
    )
    agent = agent_lib.build_agent(
        time_step_spec, action_spec, q_net, config, lambda: epsilon, train_step
    )
    best_q_net = q_net.copy(name="BestQNetwork")
    best_q_net.create_variables(time_step_spec.observation)
    replay_buffer = agent_lib.build_replay_buffer(
        agent, config.replay_capacity, frames_per_observation(env_id), num_envs
    )
    avg_return = tf_metrics.AverageReturnMetric(batch_size=num_envs, buffer_size=10)
    avg_length = tf_metrics.AverageEpisodeLengthMetric(batch_size=num_envs, buffer_size=10)

    replay_mib = agent_lib.replay_nbytes(replay_buffer) / 2**20
    keep_replay = replay_mib <= config.replay_checkpoint_limit_mb
    checkpointer = common.Checkpointer(
        ckpt_dir=os.path.join(run_dir, CHECKPOINT_SUBDIR),
        max_to_keep=2,
        agent=agent,
        policy=agent.policy,
        **({"replay_buffer": replay_buffer} if keep_replay else {}),
        global_step=train_step,
        env_step=env_step,
        best_q_network=best_q_net,
        best_return=best_return,
        best_step=best_step,
        seconds=seconds,
        metrics=[avg_return, avg_length],
    )
    history = read_history(run_dir, int(env_step.numpy()))
    start_step = int(env_step.numpy())
    learning_starts = config.learning_starts
    if start_step:
        logging.info("Resumed %s from env step %d (%s)", env_id, start_step, run_dir)
    if start_step and not keep_replay:
        learning_starts = start_step + config.learning_starts
        logging.info(
            "The checkpoint holds no replay memory (%.0f MiB > replay_checkpoint_limit_mb %d): "
            "refilling it for %d env steps, training again from step %d",
            replay_mib,
            config.replay_checkpoint_limit_mb,
            config.learning_starts,
            learning_starts,
        )

    tf_env = tf_py_environment.TFPyEnvironment(
        envs.training_env(env_id, seed + start_step, num_envs, config.max_episode_frames)
    )
    collect_policy = agent.collect_policy
    observers = [replay_buffer.add_batch, avg_return, avg_length]

    # autograph=False: converting TF-Agents' policy and agent code costs ~13 s
    # of tracing; explicit while loops trace in under a second.
    @tf.function(autograph=False)
    def collect(time_step, num_steps):
        def body(i, time_step):
            action_step = collect_policy.action(time_step)
            next_time_step = tf_env.step(action_step.action)
            traj = trajectory.from_transition(time_step, action_step, next_time_step)
            for observer in observers:
                observer(traj)
            return i + 1, next_time_step

        start = (tf.constant(0, tf.int64), time_step)
        return tf.while_loop(lambda i, _: i < num_steps, body, start)[1]

    @tf.function(autograph=False)
    def train_phase(num_steps):
        def body(i, total):
            experience, _ = replay_buffer.get_next(
                sample_batch_size=config.batch_size, num_steps=config.n_step + 1
            )
            return i + 1, total + agent.train(experience).loss

        start = (tf.constant(0, tf.int64), tf.constant(0.0))
        total = tf.while_loop(lambda i, _: i < num_steps, body, start)[1]
        return total / tf.cast(num_steps, tf.float32)

    obs_spec = time_step_spec.observation

    # autograph=False here too: converting the Q-network's call took ~20 s per run.
    @tf.function(
        input_signature=[tf.TensorSpec([None, *obs_spec.shape], obs_spec.dtype)], autograph=False
    )
    def greedy(observations):
        return tf.argmax(q_net(observations, training=False)[0], axis=-1)

    writer = tf.summary.create_file_writer(log_dir) if log_dir else tf.summary.create_noop_writer()
    solved = bool(history) and threshold is not None and history[-1]["mean_return"] >= threshold
    step = start_step
    bar = tqdm(total=max_env_steps, initial=step, unit="step", disable=not progress, desc=env_id)
    time_step = tf_env.reset()
    while step < max_env_steps and not (solved and config.stop_at_threshold):
        target = next_boundary(step, config, max_env_steps, learning_starts)
        end = step + -(-(target - step) // num_envs) * num_envs  # whole batches
        eps = (
            1.0
            if step < config.learning_starts
            else linear_epsilon(
                step, config.epsilon_start, config.epsilon_end, config.epsilon_decay_steps
            )
        )
        epsilon.assign(eps)
        started, cpu_started = time.perf_counter(), time.process_time()
        time_step = collect(time_step, tf.constant((end - step) // num_envs, tf.int64))
        loss = None
        phases = training_phases(step, end, config.train_freq, learning_starts)
        if phases:
            loss = float(train_phase(tf.constant(phases * config.gradient_steps, tf.int64)))
        elapsed = time.perf_counter() - started
        seconds.assign_add([elapsed, 0.0, time.process_time() - cpu_started])
        bar.update(end - step)
        rate = (end - step) / max(elapsed, 1e-9)
        evaluate = end // config.eval_interval > step // config.eval_interval
        step = end
        env_step.assign(step)
        with writer.as_default(step=step):
            tf.summary.scalar("train/epsilon", eps)
            tf.summary.scalar("train/env_steps_per_second", rate)
            if loss is not None:
                tf.summary.scalar("train/loss", loss)
            if avg_return.result() != 0.0:
                tf.summary.scalar("train/episode_return", avg_return.result())
                tf.summary.scalar("train/episode_length", avg_length.result())
        if evaluate or step >= max_env_steps:
            started = time.perf_counter()
            returns = envs.evaluate_batched(
                env_id,
                lambda obs: greedy(obs).numpy(),
                config.eval_episodes,
                seed + EVAL_SEED_OFFSET,
                epsilon=config.eval_epsilon,
                max_episode_frames=config.max_episode_frames,
            )
            seconds.assign_add([0.0, time.perf_counter() - started, 0.0])
            history.append(
                {
                    "env_step": step,
                    "mean_return": float(returns.mean()),
                    "std_return": float(returns.std()),
                    "train_seconds": float(seconds[0]),
                    "train_cpu_seconds": float(seconds[2]),
                }
            )
            if returns.mean() > best_return:
                best_return.assign(returns.mean())
                best_step.assign(step)
                for src, dst in zip(q_net.variables, best_q_net.variables, strict=True):
                    dst.assign(src)
            solved = threshold is not None and returns.mean() >= threshold
            with writer.as_default(step=step):
                tf.summary.scalar("eval/mean_return", returns.mean())
                tf.summary.scalar("eval/std_return", returns.std())
            bar.set_postfix(eval_return=f"{returns.mean():.1f}", eps=f"{eps:.2f}")
            logging.info(
                "%s step %d: eval return %.1f +- %.1f (train %.1fs, %.0f steps/s)",
                env_id,
                step,
                returns.mean(),
                returns.std(),
                float(seconds[0]),
                step / max(float(seconds[0]), 1e-9),
            )
            # History first: on restore it is cut at the checkpoint's step.
            write_history(run_dir, history)
            checkpointer.save(global_step=env_step)
    bar.close()
    writer.flush()
    if log_dir:
        final = {"best_mean_return": float(best_return.numpy()), "env_steps": float(step)}
        if history:
            final.update(final_mean_return=history[-1]["mean_return"])
        hparams = {**dataclasses.asdict(config), "env_id": env_id, "seed": seed}
        write_hparams(log_dir, hparams, final, step=int(step))

    if export_dir:
        export_policy(best_q_net, time_step_spec, action_spec, export_dir, train_step=train_step)
    solved_step = next(
        (
            int(h["env_step"])
            for h in history
            if threshold is not None and h["mean_return"] >= threshold
        ),
        None,
    )
    return TrainResult(
        start_step=start_step,
        env_steps=step,
        train_seconds=float(seconds[0]),
        train_cpu_seconds=float(seconds[2]),
        eval_seconds=float(seconds[1]),
        best_mean_return=float(best_return.numpy()),
        best_step=int(best_step.numpy()),
        solved_step=solved_step,
        history=history,
    )
