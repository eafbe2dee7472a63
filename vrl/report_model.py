"""The report's model sections: the Trainer's error analysis of the model on the
eval split (per-class precision and recall, a confusion matrix, the most
confidently wrong images), its TFLite copy, and the training curves (for a
policy, its returns)."""

from __future__ import annotations

import html
import json
import os

from contracts import files
from vrl.report_data import artifacts, img, png, table


def classification(lineage: dict | None, model_dir: str | None) -> str:
    """The Trainer's error analysis of the model: accuracy, top-k, per-class precision
    and recall, its confusion matrix and its grid of the most confidently wrong eval
    images (written beside the training report in the run's ModelRun folder).

    The Trainer computes it with the exported network on Transform's eval split, the
    pixels the SavedModel's `serving_examples` signature computes from the raw
    examples; the end-to-end test checks that its confusion matrix equals the one
    TFMA computes from the pushed SavedModel. So the page reads it instead of
    loading the model and predicting the eval split a third time.
    """
    from models.cnn import error_analysis as ea

    folder = next(
        (
            os.path.join(a["uri"], ea.OUTPUT_DIR)
            for a in artifacts(lineage, "ModelRun")
            if os.path.isfile(os.path.join(a["uri"], ea.OUTPUT_DIR, ea.REPORT_JSON))
        ),
        None,
    )
    if folder is None:
        return (
            "<p>the Trainer's error analysis is not reachable from here (no ML Metadata run "
            "with its ModelRun folder): no confusion matrix.</p>" + _tflite(model_dir)
        )
    with open(os.path.join(folder, ea.REPORT_JSON), encoding="utf-8") as f:
        summary = json.load(f)
    per_class = summary.get("per_class") or {}
    order = [n for n in summary.get("class_names") or [] if n in per_class] or list(per_class)
    rows = []
    for name in order:
        stats = per_class[name]
        precision, recall = _or_nan(stats.get("precision")), _or_nan(stats.get("recall"))
        rows.append((name, stats.get("support"), precision, recall))
    top_k = ", ".join(
        f"{name.replace('_', '-')} {value:.4f}"
        for name, value in sorted((summary.get("top_k_accuracy") or {}).items())
    )
    return (
        f"<p>The Trainer's error analysis: {summary.get('examples')} eval examples, "
        f"accuracy {_or_nan(summary.get('accuracy')):.4f}"
        + (f"; {top_k}" if top_k else "")
        + "</p>"
        + table(rows, ("class", "examples", "precision", "recall"))
        + "<h3>Confusion matrix</h3>"
        + _png_file(os.path.join(folder, ea.CONFUSION_PNG), "confusion matrix")
        + "<h3>Most confidently wrong</h3>"
        + _png_file(os.path.join(folder, ea.WRONG_PNG), "most confidently wrong eval images")
        + _tflite(model_dir)
    )


def _png_file(path: str, alt: str) -> str:
    if not os.path.isfile(path):
        return f"<p>{html.escape(os.path.basename(path))} is missing.</p>"
    with open(path, "rb") as f:
        return img(f.read(), "image/png", alt)


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _tflite(version_dir: str | None) -> str:
    """The TFLite copy pushed in the version, with its measured accuracy, if any."""
    from models.cnn import tflite_export

    if not version_dir or not os.path.isdir(version_dir):
        return ""
    report = tflite_export.read_report(version_dir)
    if report is None:
        return ""
    keys = ("quantization", "tflite_bytes", "saved_model_variables_bytes", "examples")
    keys += ("saved_model_accuracy", "tflite_accuracy", "accuracy_drop", "same_prediction")
    return "<h3>TFLite export</h3>" + table([(k, report.get(k)) for k in keys])


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
