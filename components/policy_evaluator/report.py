"""The PolicyEvaluator's report files and its return-over-training plot."""

from __future__ import annotations

import io
import json
import logging
import os

import numpy as np
from tfx.dsl.io import fileio

from contracts.files import (
    EVAL_HISTORY_FILE,
    POLICY_OBSERVATION_STATS_FILE,
    POLICY_REPORT_FILE,
    POLICY_REPORT_TEXT_FILE,
    RETURN_PLOT_FILE,
)


def write_evaluation(out_dir: str, report: dict, model_uri: str) -> None:
    """Writes the report files and the plot of the trainer's eval history."""
    write_report(out_dir, report)
    history_path = os.path.join(model_uri, EVAL_HISTORY_FILE)
    history = []
    if fileio.exists(history_path):
        with fileio.open(history_path) as f:
            history = json.load(f)
    else:
        logging.warning("PolicyEvaluator: no %s in %s", EVAL_HISTORY_FILE, model_uri)
    plot_return_over_training(
        history,
        report["threshold"],
        report["mean_return"],
        os.path.join(out_dir, RETURN_PLOT_FILE),
        title=f"{report['env_id']}: evaluation return over training",
    )


def observation_statistics(columns: dict[str, np.ndarray]):
    """TFDV statistics (DatasetFeatureStatisticsList) of a policy's observation columns
    (models/dqn/observation_features.py), computed in process."""
    import pandas as pd
    import tensorflow_data_validation as tfdv

    return tfdv.generate_statistics_from_dataframe(pd.DataFrame(columns))


def write_observation_statistics(out_dir: str, columns: dict[str, np.ndarray]) -> None:
    """What the evaluation episodes showed the policy, as TFDV statistics: the
    reference `vrl monitor` compares a served policy's logged observations with."""
    import tensorflow_data_validation as tfdv

    path = os.path.join(out_dir, POLICY_OBSERVATION_STATS_FILE)
    tfdv.write_stats_text(observation_statistics(columns), path)
    logging.info("PolicyEvaluator: observation statistics of %d steps in %s",
                 len(next(iter(columns.values()), [])), path)  # fmt: skip


def write_report(out_dir: str, report: dict) -> None:
    """Writes `report.json` and a short human-readable `report.txt`."""
    with fileio.open(os.path.join(out_dir, POLICY_REPORT_FILE), "w") as f:
        json.dump(report, f, indent=1)
    lines = [
        f"env: {report['env_id']}  episodes: {len(report['returns'])}  seed: {report['seed']}",
        f"mean return: {report['mean_return']:.2f} +- {report['std_return']:.2f}"
        f"  (min {min(report['returns']):.1f}, max {max(report['returns']):.1f})",
        "threshold: "
        + (
            "none (the env registers none; blessing against random and the served policy)"
            if report["threshold"] is None
            else f"{report['threshold']:.2f}"
        ),
        f"random policy mean return: {report.get('random_mean_return')}  "
        f"gradient updates: {report.get('gradient_updates')}",
        f"baseline mean return: {report['baseline_mean_return']}",
        f"blessed: {report['blessed']}  ({report['reason']})",
    ]
    with fileio.open(os.path.join(out_dir, POLICY_REPORT_TEXT_FILE), "w") as f:
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
