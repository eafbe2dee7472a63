"""The report's model sections: the model run on the eval split (per-class
precision and recall, a confusion matrix, the most confidently wrong images),
its TFLite copy, and the training curves (for a policy, its returns)."""

from __future__ import annotations

import glob
import html
import json
import os

from contracts import features, files
from models.cnn import limits
from vrl.report_data import artifacts, img, png, table

MAX_EVAL_EXAMPLES = 2000
WRONG_SHOWN = 12


def predictions(version_dir: str, examples_uri: str, limit: int = MAX_EVAL_EXAMPLES):
    """(labels, probabilities, image bytes) of the pushed model on the eval split."""
    import numpy as np
    import tensorflow as tf

    from models import tfdata

    shards = sorted(glob.glob(os.path.join(examples_uri, "Split-eval", "*")))
    records = list(tfdata.tfrecords(shards, "GZIP").take(limit))
    serialized = [r.numpy() for r in records]
    parsed = [tf.train.Example.FromString(s).features.feature for s in serialized]
    labels = np.array([f[features.LABEL_KEY].int64_list.value[0] for f in parsed])
    images = [f[features.IMAGE_KEY].bytes_list.value[0] for f in parsed]
    signature = tf.saved_model.load(version_dir).signatures[features.EXAMPLES_SIGNATURE]
    probs = []
    for start in range(0, len(serialized), 256):
        batch = tf.constant(serialized[start : start + 256])
        out = signature(**{features.EXAMPLES_INPUT_KEY: batch})
        probs.append(out[features.OUTPUT_PROBABILITIES].numpy())
    return labels, (np.concatenate(probs) if probs else np.zeros((0, 0))), images


def classification(model_dir: str | None, provenance: dict) -> str:
    from models.cnn import error_analysis as ea

    examples_uri = (provenance.get("data") or {}).get("examples_uri")
    if not examples_uri or not os.path.isdir(os.path.join(examples_uri, "Split-eval")):
        return "<p>eval examples not reachable from here: no confusion matrix.</p>"
    if not model_dir or not os.path.isdir(model_dir):
        return "<p>the model is not reachable from here: no confusion matrix.</p>"
    labels, probs, images = predictions(model_dir, examples_uri)
    vocab_file = os.path.join(examples_uri, features.LABEL_VOCAB_FILENAME)
    names = open(vocab_file).read().split() if os.path.isfile(vocab_file) else []
    k = probs.shape[1]
    names = names if len(names) == k else [str(i) for i in range(k)]
    predicted = probs.argmax(axis=1)
    matrix = ea.confusion_matrix(labels, predicted, k)
    rows = [
        (name, s["support"], _or_nan(s["precision"]), _or_nan(s["recall"]))
        for name, s in zip(names, ea.precision_recall(matrix), strict=True)
    ]
    wrong = ea.most_confident_wrong(labels, probs, WRONG_SHOWN)
    grid = "".join(
        f"<figure>{img(images[i], 'image/' + _kind(images[i]), names[labels[i]])}"
        f"<figcaption>{html.escape(names[labels[i]])} → {html.escape(names[predicted[i]])} "
        f"({probs[i].max():.2f})</figcaption></figure>"
        for i in wrong
    )
    accuracy = float((predicted == labels).mean()) if len(labels) else float("nan")
    top_k = ", ".join(
        f"top-{j} {ea.top_k_accuracy(labels, probs, j):.4f}"
        for j in ea.usable_top_k(limits.DEFAULT_TOP_K, k)
    )
    return (
        f"<p>{len(labels)} eval examples, accuracy {accuracy:.4f}"
        + (f"; {top_k}" if top_k and len(labels) else "")
        + "</p>"
        + table(rows, ("class", "examples", "precision", "recall"))
        + "<h3>Confusion matrix</h3>"
        + img(ea.plot_confusion_matrix(matrix, names), "image/png", "confusion matrix")
        + "<h3>Most confidently wrong</h3>"
        + (f'<div class="grid">{grid}</div>' if grid else "<p>none wrong</p>")
        + _tflite(model_dir)
    )


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _tflite(version_dir: str) -> str:
    """The TFLite copy pushed in the version, with its measured accuracy, if any."""
    from models.cnn import tflite_export

    report = tflite_export.read_report(version_dir)
    if report is None:
        return ""
    keys = ("quantization", "tflite_bytes", "saved_model_variables_bytes", "examples")
    keys += ("saved_model_accuracy", "tflite_accuracy", "accuracy_drop", "same_prediction")
    return "<h3>TFLite export</h3>" + table([(k, report.get(k)) for k in keys])


def _kind(data: bytes) -> str:
    return "png" if data.startswith(b"\x89PNG") else "jpeg"


def curves(lineage: dict | None, provenance: dict) -> str:
    parts = []
    for a in artifacts(lineage, "ModelRun"):
        curve = os.path.join(a["uri"], files.LOSS_CURVE_FILE)
        if os.path.isfile(curve):
            parts.append(img(open(curve, "rb").read(), "image/png", "learning curves"))
    evaluation = provenance.get("evaluation") or {}
    uri = evaluation.get("evaluation_uri")
    if uri and os.path.isfile(os.path.join(uri, files.RETURN_PLOT_FILE)):
        plot = open(os.path.join(uri, files.RETURN_PLOT_FILE), "rb").read()
        parts.append(img(plot, "image/png", "return over training"))
    if uri and os.path.isfile(os.path.join(uri, files.POLICY_REPORT_FILE)):
        import matplotlib.pyplot as plt

        returns = json.load(open(os.path.join(uri, files.POLICY_REPORT_FILE))).get("returns") or []
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist(returns, bins=min(20, max(len(returns), 1)))
        ax.set_xlabel("evaluation return")
        ax.set_ylabel("episodes")
        parts.append(png(fig))
    return "".join(parts) or "<p>no curves found</p>"
