"""Pure functions of the PolicyEvaluator: blessing rule, episodes, report, plot."""

from __future__ import annotations

import dataclasses
import io
import json
import os

import numpy as np
from tfx.dsl.io import fileio

from contracts import files


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether the policy is blessed, and why."""

    blessed: bool
    reason: str


def decide_blessing(
    mean_return: float,
    threshold: float | None,
    baseline_mean_return: float | None = None,
    max_regression: float = 0.05,
) -> Decision:
    """Blesses when `mean_return >= threshold` and, if there is a baseline, the
    mean is not below it by more than `max_regression` x |baseline mean|.

    With no threshold (an env that registers none, and none given) only the
    baseline decides: the first policy is blessed, later ones must hold up
    against the served one.
    """
    if threshold is None:
        if baseline_mean_return is None:
            return Decision(
                True, f"mean return {mean_return:.2f}; no threshold and no served policy yet"
            )
        threshold = -float("inf")
    if mean_return < threshold:
        return Decision(
            False, f"mean return {mean_return:.2f} is below the threshold {threshold:.2f}"
        )
    if baseline_mean_return is not None:
        floor = baseline_mean_return - max_regression * abs(baseline_mean_return)
        if mean_return < floor:
            return Decision(
                False,
                f"mean return {mean_return:.2f} is worse than the blessed baseline "
                f"{baseline_mean_return:.2f} by more than {max_regression:.0%} (floor {floor:.2f})",
            )
        against = "" if threshold == -float("inf") else f">= threshold {threshold:.2f} and "
        return Decision(
            True, f"mean return {mean_return:.2f} {against}>= baseline floor {floor:.2f}"
        )
    return Decision(
        True, f"mean return {mean_return:.2f} >= threshold {threshold:.2f}; no baseline"
    )


def evaluate_saved_policy(
    saved_model_dir: str,
    env_id: str,
    num_episodes: int,
    seed: int,
    epsilon: float = 0.0,
    max_episode_frames: int = 0,
) -> np.ndarray:
    """Returns of `num_episodes` seeded episodes of a policy SavedModel, driven
    through its plain `serving_default` signature (batched), taking a random
    action with probability `epsilon`, truncated after `max_episode_frames`
    frames (0: the env's own limit)."""
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

    return envs.evaluate_batched(env_id, greedy, num_episodes, seed, epsilon, max_episode_frames)


def write_report(out_dir: str, report: dict) -> None:
    """Writes `report.json` and a short human-readable `report.txt`."""
    with fileio.open(os.path.join(out_dir, files.POLICY_REPORT_FILE), "w") as f:
        json.dump(report, f, indent=1)
    lines = [
        f"env: {report['env_id']}  episodes: {len(report['returns'])}  seed: {report['seed']}",
        f"mean return: {report['mean_return']:.2f} +- {report['std_return']:.2f}"
        f"  (min {min(report['returns']):.1f}, max {max(report['returns']):.1f})",
        "threshold: "
        + (
            "none (the env registers none; blessing against the served policy)"
            if report["threshold"] is None
            else f"{report['threshold']:.2f}"
        ),
        f"baseline mean return: {report['baseline_mean_return']}",
        f"blessed: {report['blessed']}  ({report['reason']})",
    ]
    with fileio.open(os.path.join(out_dir, files.POLICY_REPORT_TEXT_FILE), "w") as f:
        f.write("\n".join(lines) + "\n")


def plot_return_over_training(
    history: list[dict], threshold: float | None, final_mean: float, path: str, title: str
) -> None:
    """PNG of greedy eval return (mean +- std) against env steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if history:
        steps = np.array([h["env_step"] for h in history])
        means = np.array([h["mean_return"] for h in history])
        stds = np.array([h["std_return"] for h in history])
        ax.plot(steps, means, marker="o", label="greedy eval mean return")
        ax.fill_between(steps, means - stds, means + stds, alpha=0.2)
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
    ax.axhline(
        final_mean, color="tab:green", linestyle=":", label=f"evaluator mean {final_mean:.1f}"
    )
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    with fileio.open(path, "wb") as f:
        f.write(buffer.getvalue())
