"""Error analysis of a classifier on the eval split: what it confuses and where it is wrong.

Pure functions over labels [N] and class probabilities [N, K] (numpy), plus
the writer run_fn calls after export. Every image run leaves in its
`model_run` folder, under `error_analysis/`:

- `error_analysis.json`: example count, accuracy, top-k accuracy, per-class
  precision / recall / support, the confusion matrix (rows true, columns
  predicted) and the most confidently wrong examples;
- `confusion_matrix.png`: that matrix, counts in the cells;
- `confidently_wrong.png`: the most confidently wrong eval images with their
  true and predicted labels and the predicted probability.

TFMA computes the same figures in the Evaluator (MultiClassConfusionMatrixPlot,
per-class Precision/Recall, top-k accuracy); these files add the pictures and
the images themselves, which TFMA's output does not hold.
"""

from __future__ import annotations

import io
import json
import math
import posixpath
from collections.abc import Sequence
from typing import Any

import numpy as np

OUTPUT_DIR = "error_analysis"
REPORT_JSON = "error_analysis.json"
CONFUSION_PNG = "confusion_matrix.png"
WRONG_PNG = "confidently_wrong.png"
WRONG_SHOWN = 16  # images in the confidently-wrong grid


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [K, K]: row = true class, column = predicted class."""
    labels, predicted = np.asarray(labels, int), np.asarray(predicted, int)
    bad = [v for v in np.concatenate([labels, predicted]) if not 0 <= v < num_classes]
    if bad:
        raise ValueError(f"class ids must be in [0, {num_classes}); got {sorted(set(bad))[:5]}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def precision_recall(matrix: np.ndarray) -> list[dict[str, float | None]]:
    """Per class: precision (of its column), recall (of its row) and support.

    None where the class was never predicted (precision) or never present (recall).
    """
    matrix = np.asarray(matrix)
    out = []
    for i in range(matrix.shape[0]):
        predicted, present = matrix[:, i].sum(), matrix[i].sum()
        out.append(
            {
                "precision": float(matrix[i, i] / predicted) if predicted else None,
                "recall": float(matrix[i, i] / present) if present else None,
                "support": int(present),
            }
        )
    return out


def top_k_accuracy(labels: np.ndarray, probs: np.ndarray, k: int) -> float:
    """Share of examples whose true class is among the k most probable."""
    if not 1 <= k <= probs.shape[1]:
        raise ValueError(f"k must be in [1, {probs.shape[1]}] (the number of classes), got {k}")
    if len(labels) == 0:
        return math.nan
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float((top == np.asarray(labels)[:, None]).any(axis=1).mean())


def usable_top_k(top_k: Sequence[int], num_classes: int) -> list[int]:
    """The k values worth reporting: 1 < k < K (top-K accuracy is always 1)."""
    return sorted({k for k in top_k if 1 < k < num_classes})


def most_confident_wrong(labels: np.ndarray, probs: np.ndarray, count: int) -> list[int]:
    """Indices of up to `count` wrong predictions, most confident first (ties: lower index)."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != np.asarray(labels))
    order = np.argsort(-probs[wrong].max(axis=1), kind="stable")
    return [int(i) for i in wrong[order][:count]]


def summarize(
    labels: np.ndarray, probs: np.ndarray, names: Sequence[str], top_k: Sequence[int]
) -> dict[str, Any]:
    """The content of error_analysis.json (without the wrong examples)."""
    labels, probs = np.asarray(labels), np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != len(names) or len(labels) != len(probs):
        raise ValueError(
            f"need labels [N] and probabilities [N, {len(names)}] (one column per class name); "
            f"got {labels.shape} and {probs.shape}"
        )
    predicted = probs.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, len(names))
    per_class = precision_recall(matrix)
    return {
        "examples": len(labels),
        "accuracy": float((predicted == labels).mean()) if len(labels) else math.nan,
        "top_k_accuracy": {
            f"top_{k}": top_k_accuracy(labels, probs, k) for k in usable_top_k(top_k, len(names))
        },
        "per_class": {name: stats for name, stats in zip(names, per_class, strict=True)},
        "class_names": list(names),
        "confusion_matrix": matrix.tolist(),
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display in trainers, CI or pods
    import matplotlib.pyplot as plt

    return plt


def _png_bytes(fig) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def plot_confusion_matrix(matrix: np.ndarray, names: Sequence[str]) -> bytes:
    """The confusion matrix as a PNG: counts in the cells, true classes down, predicted across."""
    plt = _pyplot()
    k = len(names)
    fig, ax = plt.subplots(figsize=(1.5 + 0.6 * k, 1.5 + 0.6 * k))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    dark = np.asarray(matrix).max() / 2 if np.asarray(matrix).size else 0
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(n),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if n > dark else "black",
        )
    return _png_bytes(fig)


def decode_for_plot(encoded: bytes) -> np.ndarray:
    """An encoded image (PNG/JPEG/...) as uint8 [H, W, 3] for matplotlib."""
    from PIL import Image

    with Image.open(io.BytesIO(encoded)) as image:
        return np.asarray(image.convert("RGB"))


def plot_wrong_grid(images: Sequence[bytes], captions: Sequence[str]) -> bytes:
    """A grid of encoded images with one caption each, as a PNG (a note when empty)."""
    plt = _pyplot()
    if not images:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no wrong predictions on the eval split", ha="center", va="center")
        return _png_bytes(fig)
    cols = min(4, len(images))
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, encoded, caption in zip(axes.ravel(), images, captions, strict=False):
        ax.imshow(decode_for_plot(encoded), interpolation="nearest")
        ax.set_title(caption, fontsize=8)
    return _png_bytes(fig)


def wrong_caption(true_name: str, predicted_name: str, probability: float) -> str:
    """'true cat\\npredicted dog (0.93)'."""
    return f"true {true_name}\npredicted {predicted_name} ({probability:.2f})"


def write_outputs(
    out_dir: str,
    labels: np.ndarray,
    probs: np.ndarray,
    names: Sequence[str],
    top_k: Sequence[int],
    wrong_images: dict[int, bytes],
) -> dict[str, Any]:
    """Writes the JSON and both PNGs into `<out_dir>/error_analysis/`; returns the JSON content.

    `wrong_images` maps an example index to its encoded image; the grid shows
    the most confidently wrong examples among those given.
    """
    import tensorflow as tf  # gfile: out_dir may be a bucket path (Kubeflow)

    folder = posixpath.join(out_dir, OUTPUT_DIR)
    tf.io.gfile.makedirs(folder)
    summary = summarize(labels, probs, names, top_k)
    shown = [i for i in most_confident_wrong(labels, probs, len(labels)) if i in wrong_images]
    shown = shown[:WRONG_SHOWN]
    predicted = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
    summary["most_confidently_wrong"] = [
        {
            "index": i,
            "true": names[labels[i]],
            "predicted": names[predicted[i]],
            "probability": float(probs[i].max()),
        }
        for i in shown
    ]
    captions = [
        wrong_caption(w["true"], w["predicted"], w["probability"])
        for w in summary["most_confidently_wrong"]
    ]
    files = {
        CONFUSION_PNG: plot_confusion_matrix(np.array(summary["confusion_matrix"]), names),
        WRONG_PNG: plot_wrong_grid([wrong_images[i] for i in shown], captions),
        REPORT_JSON: json.dumps(summary, indent=2, sort_keys=True).encode(),
    }
    for name, data in files.items():
        with tf.io.gfile.GFile(posixpath.join(folder, name), "wb") as f:
            f.write(data)
    return summary
