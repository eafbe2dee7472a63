"""Pure functions of the PolicyEvaluator: the blessing rule and the evaluation.

A policy is blessed only when it trained (its network had at least one
gradient update), beats a uniformly random policy on the same seeded episodes,
reaches the threshold (where one is known) and does not regress against the
policy in production by more than `max_regression`.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from tfx.dsl.io import fileio
from tfx.utils import path_utils

from contracts.files import TRAINING_SUMMARY_FILE
from models.dqn.observation_features import ObservationRecorder

UNRECORDED = -1
"""A policy SavedModel's train step when its exporter recorded none (PolicySaver's default)."""


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether the policy is blessed, and why (one line)."""

    blessed: bool
    reason: str


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How episodes are run: env, count, first seed, random-action rate, frame cap."""

    env_id: str
    episodes: int
    seed: int
    epsilon: float = 0.0
    max_episode_frames: int = 0


@dataclasses.dataclass(frozen=True)
class Training:
    """What the candidate's training did: the exported network's gradient updates
    (UNRECORDED if unknown) and, from the trainer's summary, the run's env steps
    and the step learning started at (None where no summary was found)."""

    gradient_updates: int
    env_steps: int | None = None
    learning_starts: int | None = None

    @property
    def trained(self) -> bool:
        """At least one gradient update shaped the exported network."""
        return self.gradient_updates > 0

    def why_untrained(self) -> str:
        """One line on why the network never trained."""
        if self.gradient_updates == UNRECORDED:
            return "the policy SavedModel records no train step, so it cannot show it trained"
        if self.env_steps is not None and self.learning_starts is not None:
            if self.env_steps <= self.learning_starts:
                return (
                    f"the policy made no gradient update: the run's {self.env_steps} env steps "
                    f"ended before learning_starts ({self.learning_starts}); train longer"
                )
        return "the exported network made no gradient update (it is the untrained one)"


def decide_blessing(
    mean_return: float,
    threshold: float | None,
    baseline_mean_return: float | None = None,
    max_regression: float = 0.05,
    *,
    random_mean_return: float,
    training: Training,
) -> Decision:
    """Blesses when the policy trained, its mean beats `random_mean_return`,
    `mean_return >= threshold` (None: no threshold) and, with a baseline, the mean
    is not below it by more than `max_regression` x |baseline mean|."""
    if not training.trained:
        return Decision(False, training.why_untrained())
    if mean_return <= random_mean_return:
        return Decision(
            False,
            f"mean return {mean_return:.2f} does not beat a random policy's "
            f"{random_mean_return:.2f} on the same episodes",
        )
    beats = f"mean return {mean_return:.2f} beats random {random_mean_return:.2f}"
    if threshold is not None and mean_return < threshold:
        return Decision(
            False, f"mean return {mean_return:.2f} is below the threshold {threshold:.2f}"
        )
    reached = "" if threshold is None else f", >= threshold {threshold:.2f}"
    if baseline_mean_return is None:
        served = "no served policy yet" + ("" if threshold is not None else ", no threshold")
        return Decision(True, f"{beats}{reached}; {served}")
    floor = baseline_mean_return - max_regression * abs(baseline_mean_return)
    if mean_return < floor:
        return Decision(
            False,
            f"mean return {mean_return:.2f} is worse than the blessed baseline "
            f"{baseline_mean_return:.2f} by more than {max_regression:.0%} (floor {floor:.2f})",
        )
    return Decision(True, f"{beats}{reached}, >= baseline floor {floor:.2f}")


def evaluate_saved_policy(
    saved_model_dir: str, protocol: Protocol, recorder: ObservationRecorder | None = None
) -> tuple[np.ndarray, int]:
    """(returns of the protocol's episodes, train step the SavedModel records) of a
    policy SavedModel, driven through its plain `serving_default` signature; the
    `recorder` (if any) keeps what the policy was shown and answered."""
    import tensorflow as tf

    from models.dqn import envs
    from models.dqn.export import ACTION_KEY, OBSERVATION_KEY, SERVING_SIGNATURE

    loaded = tf.saved_model.load(saved_model_dir)
    if SERVING_SIGNATURE not in loaded.signatures:
        raise ValueError(
            f"{saved_model_dir}: policy SavedModel has no {SERVING_SIGNATURE!r} signature "
            f"(found {sorted(loaded.signatures)}); export it with models.dqn.export.export_policy"
        )
    serve = loaded.signatures[SERVING_SIGNATURE]

    def greedy(observations: np.ndarray) -> np.ndarray:
        return serve(**{OBSERVATION_KEY: tf.constant(observations)})[ACTION_KEY].numpy()

    returns = envs.evaluate_batched(
        protocol.env_id,
        recorder.wrap(greedy) if recorder else greedy,
        protocol.episodes,
        protocol.seed,
        protocol.epsilon,
        protocol.max_episode_frames,
    )
    train_step = loaded.get_train_step() if hasattr(loaded, "get_train_step") else UNRECORDED
    return returns, int(train_step)


def random_policy_returns(protocol: Protocol) -> np.ndarray:
    """Returns of a uniformly random policy on the protocol's episodes (same seeds)."""
    from models.dqn import envs

    def any_action(observations: np.ndarray) -> np.ndarray:
        return np.zeros(len(observations), dtype=np.int64)

    # epsilon 1: every action is drawn uniformly, whatever any_action says.
    return envs.evaluate_batched(
        protocol.env_id,
        any_action,
        protocol.episodes,
        protocol.seed,
        1.0,
        protocol.max_episode_frames,
    )


def read_training(model_uri: str, gradient_updates: int) -> Training:
    """`Training` of a DqnTrainer Model: the SavedModel's train step, and the run's
    env steps and learning start from the trainer's summary beside it."""
    path = os.path.join(model_uri, TRAINING_SUMMARY_FILE)
    if not fileio.exists(path):
        return Training(gradient_updates)
    with fileio.open(path) as f:
        summary = json.load(f)
    return Training(gradient_updates, summary.get("env_steps"), summary.get("learning_starts"))


def evaluate(
    model_uri: str,
    baseline_uri: str | None,
    protocol: Protocol,
    threshold: float | None,
    max_regression: float,
    recorder: ObservationRecorder | None = None,
) -> dict:
    """Runs the candidate (its observations and actions kept by `recorder`), a random
    policy and (when given) the baseline on the same episodes and decides; returns
    the report (returns, means, decision)."""
    returns, train_step = evaluate_saved_policy(
        path_utils.serving_model_path(model_uri), protocol, recorder
    )
    random_returns = random_policy_returns(protocol)
    baseline_mean = None
    if baseline_uri is not None:
        baseline_returns, _ = evaluate_saved_policy(
            path_utils.serving_model_path(baseline_uri), protocol
        )
        baseline_mean = float(baseline_returns.mean())
    training = read_training(model_uri, train_step)
    decision = decide_blessing(
        float(returns.mean()),
        threshold,
        baseline_mean,
        max_regression,
        random_mean_return=float(random_returns.mean()),
        training=training,
    )
    return {
        "env_id": protocol.env_id,
        "seed": protocol.seed,
        "returns": returns.tolist(),
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "random_mean_return": float(random_returns.mean()),
        "gradient_updates": training.gradient_updates,
        "threshold": None if threshold is None else float(threshold),
        "epsilon": protocol.epsilon,
        "max_episode_frames": protocol.max_episode_frames,
        "max_regression": max_regression,
        "baseline_mean_return": baseline_mean,
        "blessed": decision.blessed,
        "reason": decision.reason,
    }
