"""Per-epoch progress logging and the training report written next to the run."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf
import tf_keras
from absl import logging

from contracts.files import LOSS_CURVE_FILE, TRAINING_REPORT_FILE


class EpochProgressLogger(tf_keras.callbacks.Callback):
    """Logs one line per epoch: metrics, seconds, images/s and ETA."""

    def __init__(self, epochs: int, examples_per_epoch: int | None = None) -> None:
        super().__init__()
        self._epochs = epochs
        self._examples = examples_per_epoch
        self._start = self._epoch_start = 0.0

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        now = time.perf_counter()
        seconds = now - self._epoch_start
        eta = (now - self._start) / (epoch + 1) * (self._epochs - epoch - 1)
        metrics = " ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
        rate = f" {self._examples / seconds:.0f} img/s" if self._examples and seconds > 0 else ""
        logging.info(
            "epoch %d/%d %s (%.1fs%s, ETA %.0fs)",
            epoch + 1,
            self._epochs,
            metrics,
            seconds,
            rate,
            eta,
        )


def plot_history(history: Mapping[str, Sequence[float]], path: str) -> None:
    """Loss (and accuracy, if present) per epoch as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", axes[0]), ("accuracy", axes[1])):
        for name in (key, f"val_{key}"):
            if history.get(name):
                ax.plot(range(1, len(history[name]) + 1), history[name], label=name)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    # gfile so that model_run_dir may be a bucket path (Kubeflow).
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())


def write_report(
    out_dir: str, history: Mapping[str, Sequence[float]], summary: Mapping[str, Any]
) -> str:
    """Writes training_report.json (summary + history) and loss_curve.png; returns the JSON path."""
    tf.io.gfile.makedirs(out_dir)
    clean_history = {k: [float(v) for v in vs] for k, vs in history.items()}
    report = {"summary": dict(summary), "history": clean_history}
    path = os.path.join(out_dir, TRAINING_REPORT_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True, default=str)
    plot_history(clean_history, os.path.join(out_dir, LOSS_CURVE_FILE))
    logging.info("Training report: %s", path)
    return path
