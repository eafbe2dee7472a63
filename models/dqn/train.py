"""DQN training loop over named phases (TF-Agents' vocabulary): the collector
fills the replay memory, the learner trains on it, the evaluator scores the
greedy policy and keeps the best, and the run state checkpoints so a killed
run resumes. Triggers are the step boundaries of `next_boundary`."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import tensorflow as tf
from tf_agents.environments import tf_py_environment
from tf_agents.metrics import tf_metrics

from models import reproducibility
from models.dqn import agent as agent_lib
from models.dqn import envs
from models.dqn.config import DqnConfig, resolve_mixed_precision, resolve_num_envs
from models.dqn.export import export_policy
from models.dqn.gym_envs import frames_per_observation
from models.dqn.history import TrainResult
from models.dqn.maths import linear_epsilon, training_phases
from models.dqn.memory import replay_transitions
from models.dqn.phases import Collector, Evaluator, Learner
from models.dqn.precision import fast_float16_gpu
from models.dqn.progress import make_progress
from models.dqn.run_state import CHECKPOINT_SUBDIR, RunState
from models.hparams import write_hparams

__all__ = ["CHECKPOINT_SUBDIR", "TrainResult", "next_boundary", "train"]


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


@dataclasses.dataclass
class _Run:
    """The parts of one run, built once."""

    env_id: str
    config: DqnConfig
    num_envs: int
    learning_starts: int
    replay_transitions: int
    replay_mib: float
    state: RunState
    collector: Collector
    learner: Learner
    evaluator: Evaluator
    metrics: tuple[tf_metrics.AverageReturnMetric, tf_metrics.AverageEpisodeLengthMetric]
    export: Callable[[str], None]


def _build(env_id: str, config: DqnConfig, seed: int, budget: int, run_dir: str) -> _Run:
    """Networks, agent, replay memory, run state (restored if a checkpoint exists),
    training envs and the three phases."""
    state = RunState(config.epsilon_start)
    num_envs = resolve_num_envs(config.num_envs, bool(tf.config.list_physical_devices("GPU")))
    mixed = resolve_mixed_precision(config.mixed_precision, fast_float16_gpu())
    logging.info("%s: %d env copies per batch, mixed precision %s", env_id, num_envs, mixed)
    spec_env = tf_py_environment.TFPyEnvironment(envs.GymnasiumEnvironment(env_id, seed))
    time_step_spec, action_spec = spec_env.time_step_spec(), spec_env.action_spec()
    q_net = agent_lib.build_q_network(
        time_step_spec.observation,
        action_spec,
        config.hidden_units,
        config.network,
        mixed_precision=mixed,
    )
    agent = agent_lib.build_agent(
        time_step_spec, action_spec, q_net, config, lambda: state.epsilon, state.train_step
    )
    best_q_net = q_net.copy(name="BestQNetwork")
    best_q_net.create_variables(time_step_spec.observation)
    # A run cannot fill more than its budget: a 2,000-step run of a 1M-frame preset
    # allocates 2,000 transitions, not 6.7 GB.
    capacity = replay_transitions(config.replay_capacity, budget, num_envs)
    replay = agent_lib.build_replay_buffer(
        agent, capacity, frames_per_observation(env_id), num_envs
    )
    metrics = (
        tf_metrics.AverageReturnMetric(batch_size=num_envs, buffer_size=10),
        tf_metrics.AverageEpisodeLengthMetric(batch_size=num_envs, buffer_size=10),
    )
    replay_mib = agent_lib.replay_nbytes(replay) / 2**20
    # Keyed by capacity: a resumed run with another budget sizes its memory anew
    # and refills it instead of restoring a memory of another shape.
    keep = replay_mib <= config.replay_checkpoint_limit_mb
    start_step = state.restore(
        run_dir,
        f"replay_buffer_{capacity}" if keep else None,
        agent=agent,
        policy=agent.policy,
        replay_buffer=replay,
        best_q_network=best_q_net,
        metrics=list(metrics),
    )
    learning_starts = _learning_starts(env_id, config, start_step, replay, run_dir, replay_mib)
    tf_env = tf_py_environment.TFPyEnvironment(
        envs.training_env(env_id, seed + start_step, num_envs, config.max_episode_frames)
    )
    return _Run(
        env_id=env_id,
        config=config,
        num_envs=num_envs,
        learning_starts=learning_starts,
        replay_transitions=int(replay.capacity),
        replay_mib=replay_mib,
        state=state,
        collector=Collector(tf_env, agent.collect_policy, [replay.add_batch, *metrics]),
        learner=Learner(agent, replay, config.batch_size, config.n_step),
        evaluator=Evaluator(env_id, q_net, best_q_net, config, seed),
        metrics=metrics,
        export=lambda export_dir: export_policy(
            best_q_net, time_step_spec, action_spec, export_dir, state.best_train_step
        ),
    )


def _learning_starts(
    env_id: str, config: DqnConfig, start_step: int, replay, run_dir: str, replay_mib: float
) -> int:
    """The env step training starts at: `config.learning_starts`, or, for a resumed
    run whose replay memory was not restored, that many steps after resuming."""
    if not start_step:
        return config.learning_starts
    logging.info("Resumed %s from env step %d (%s)", env_id, start_step, run_dir)
    if int(replay.num_frames()) > 0:
        return config.learning_starts
    logging.info(
        "The checkpoint holds no replay memory of this size (%.0f MiB; memories over "
        "replay_checkpoint_limit_mb %d are not saved): refilling it for %d env steps, "
        "training again from step %d",
        replay_mib,
        config.replay_checkpoint_limit_mb,
        config.learning_starts,
        start_step + config.learning_starts,
    )
    return start_step + config.learning_starts


def _collect_and_learn(run: _Run, step: int, end: int) -> tuple[float | None, float]:
    """Collects env steps (step, end] and runs the training phases due; returns
    (mean loss or None, env steps per second)."""
    config = run.config
    started, cpu_started = time.perf_counter(), time.process_time()
    run.collector.run((end - step) // run.num_envs)
    loss = None
    phases = training_phases(step, end, config.train_freq, run.learning_starts)
    if phases:
        loss = run.learner.run(phases * config.gradient_steps)
    elapsed = time.perf_counter() - started
    run.state.seconds.assign_add([elapsed, 0.0, time.process_time() - cpu_started])
    return loss, (end - step) / max(elapsed, 1e-9)


def _epsilon(step: int, config: DqnConfig) -> float:
    """Collect epsilon at `step`: 1 before learning starts, then the linear schedule."""
    if step < config.learning_starts:
        return 1.0
    return linear_epsilon(
        step, config.epsilon_start, config.epsilon_end, config.epsilon_decay_steps
    )


def _log_train(writer, run: _Run, step: int, eps: float, rate: float, loss: float | None) -> None:
    avg_return, avg_length = run.metrics
    with writer.as_default(step=step):
        tf.summary.scalar("train/epsilon", eps)
        tf.summary.scalar("train/env_steps_per_second", rate)
        if loss is not None:
            tf.summary.scalar("train/loss", loss)
        if avg_return.result() != 0.0:
            tf.summary.scalar("train/episode_return", avg_return.result())
            tf.summary.scalar("train/episode_length", avg_length.result())


def _log_eval(writer, run: _Run, step: int, returns) -> None:
    seconds = float(run.state.seconds[0])
    with writer.as_default(step=step):
        tf.summary.scalar("eval/mean_return", returns.mean())
        tf.summary.scalar("eval/std_return", returns.std())
    logging.info(
        "%s step %d: eval return %.1f +- %.1f (train %.1fs, %.0f steps/s)",
        run.env_id,
        step,
        returns.mean(),
        returns.std(),
        seconds,
        step / max(seconds, 1e-9),
    )


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
    the end; the best-scoring Q-network (one that trained beats one that did
    not) is kept and, when `export_dir` is set, exported there as a SavedModel
    whose train step is that network's gradient updates. Stops early once an
    evaluation reaches `threshold` (default: the env's registered reward
    threshold) if `config.stop_at_threshold`. With `config.num_envs` copies of
    the env, each collect call steps whole batches, so the budget and the
    pauses above are reached rounded up to a multiple of the copies.
    """
    if threshold is None:
        threshold = envs.reward_threshold(env_id)
    reproducibility.seed_everything(seed, config.deterministic)
    run = _build(env_id, config, seed, max_env_steps, run_dir)
    state = run.state
    writer = tf.summary.create_file_writer(log_dir) if log_dir else tf.summary.create_noop_writer()
    step = start_step = int(state.env_step.numpy())
    solved = state.solved(threshold)
    bar = make_progress(max_env_steps, step, env_id, progress)
    while step < max_env_steps and not (solved and config.stop_at_threshold):
        target = next_boundary(step, config, max_env_steps, run.learning_starts)
        end = step + -(-(target - step) // run.num_envs) * run.num_envs  # whole batches
        eps = _epsilon(step, config)
        state.epsilon.assign(eps)
        loss, rate = _collect_and_learn(run, step, end)
        bar.update(end - step)
        evaluate = end // config.eval_interval > step // config.eval_interval
        step = end
        state.env_step.assign(step)
        _log_train(writer, run, step, eps, rate, loss)
        if evaluate or step >= max_env_steps:
            returns = run.evaluator.run(state, step)
            solved = state.solved(threshold)
            _log_eval(writer, run, step, returns)
            bar.set_postfix(eval_return=f"{returns.mean():.1f}", eps=f"{eps:.2f}")
            state.save()
    bar.close()
    writer.flush()
    if export_dir:
        run.export(export_dir)
    return _finish(run, start_step, step, threshold, log_dir, seed)


def _finish(
    run: _Run, start_step: int, step: int, threshold: float | None, log_dir: str | None, seed: int
) -> TrainResult:
    """HParams of the run (with `log_dir`) and what it did."""
    state, history = run.state, run.state.history
    if log_dir:
        final = {"best_mean_return": float(state.best_return.numpy()), "env_steps": float(step)}
        if history:
            final.update(final_mean_return=history[-1]["mean_return"])
        hparams = {**dataclasses.asdict(run.config), "env_id": run.env_id, "seed": seed}
        write_hparams(log_dir, hparams, final, step=int(step))
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
        train_seconds=float(state.seconds[0]),
        train_cpu_seconds=float(state.seconds[2]),
        eval_seconds=float(state.seconds[1]),
        best_mean_return=float(state.best_return.numpy()),
        best_step=int(state.best_step.numpy()),
        solved_step=solved_step,
        history=history,
        train_steps=int(state.train_step.numpy()),
        best_train_steps=int(state.best_train_step.numpy()),
        learning_starts=run.learning_starts,
        replay_transitions=run.replay_transitions,
        replay_mib=run.replay_mib,
    )
