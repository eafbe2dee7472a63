"""`vrl report MODEL[:VERSION] --out report.html`: one self-contained page per pushed version.

Built from the version's provenance (always there) and, when a local ML
Metadata store holds its run, the run's artifacts: TFDV statistics and
anomalies, the image checks, learning curves, and predictions of the pushed
model on the eval split (per-class precision and recall, a confusion matrix,
the most confidently wrong images). Plots are embedded PNGs.
"""

from __future__ import annotations

import argparse
import base64
import glob
import html
import io
import json
import os

from contracts import features, files
from models.cnn import limits

MAX_EVAL_EXAMPLES = 2000
WRONG_SHOWN = 12


def add_parser(sub: argparse._SubParsersAction, formatter) -> None:
    """Registers `vrl report`."""
    p = sub.add_parser(
        "report", help="one HTML page about a pushed version", formatter_class=formatter
    )
    p.add_argument("target", metavar="MODEL[:VERSION]", help="model name, optionally :version")
    p.add_argument("--out", default="report.html", help="HTML file to write")
    p.add_argument("--serving-base", default=os.path.join("runs", "serving"), help="model base")
    p.add_argument("--home", default="runs", help="`vrl run --home` folder (ML Metadata)")
    p.set_defaults(func=_cmd_report)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return _img(buffer.getvalue(), "image/png")


def _img(data: bytes, mime: str, alt: str = "plot") -> str:
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{encoded}">'


def _table(rows: list[tuple], head: tuple | None = None) -> str:
    out = ["<table>"]
    if head:
        out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr>")
    for row in rows:
        cells = "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row)
        out.append(f"<tr>{cells}</tr>")
    return "".join(out) + "</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _artifacts(lineage: dict | None, type_name: str) -> list[dict]:
    if not lineage:
        return []
    seen, out = set(), []
    for step in lineage["steps"]:
        for a in step["inputs"] + step.get("outputs", []):
            if a["type"] == type_name and a["id"] not in seen:
                seen.add(a["id"])
                out.append(a)
    return out


def predictions(version_dir: str, examples_uri: str, limit: int = MAX_EVAL_EXAMPLES):
    """(labels, probabilities, image bytes) of the pushed model on the eval split."""
    import numpy as np
    import tensorflow as tf

    shards = sorted(glob.glob(os.path.join(examples_uri, "Split-eval", "*")))
    records = list(tf.data.TFRecordDataset(shards, compression_type="GZIP").take(limit))
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


def _classification(version_dir: str, provenance: dict) -> str:
    from models.cnn import error_analysis as ea

    examples_uri = (provenance.get("data") or {}).get("examples_uri")
    if not examples_uri or not os.path.isdir(os.path.join(examples_uri, "Split-eval")):
        return "<p>eval examples not reachable from here: no confusion matrix.</p>"
    labels, probs, images = predictions(version_dir, examples_uri)
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
        f"<figure>{_img(images[i], 'image/' + _kind(images[i]), names[labels[i]])}"
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
        + _table(rows, ("class", "examples", "precision", "recall"))
        + "<h3>Confusion matrix</h3>"
        + _img(ea.plot_confusion_matrix(matrix, names), "image/png", "confusion matrix")
        + "<h3>Most confidently wrong</h3>"
        + (f'<div class="grid">{grid}</div>' if grid else "<p>none wrong</p>")
        + _tflite(version_dir)
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
    return "<h3>TFLite export</h3>" + _table([(k, report.get(k)) for k in keys])


def _kind(data: bytes) -> str:
    return "png" if data.startswith(b"\x89PNG") else "jpeg"


def _statistics(lineage: dict | None) -> str:
    stats = _artifacts(lineage, "ExampleStatistics")
    if not stats:
        return "<p>no statistics in ML Metadata</p>"
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.utils import display_util

    uri = stats[0]["uri"]
    train = tfdv.load_stats_binary(os.path.join(uri, "Split-train", "FeatureStats.pb"))
    evaluation = tfdv.load_stats_binary(os.path.join(uri, "Split-eval", "FeatureStats.pb"))
    page = display_util.get_statistics_html(train, evaluation, "train", "eval")
    rows = []
    for split, stats_list in (("train", train), ("eval", evaluation)):
        for dataset in stats_list.datasets:
            for feature in dataset.features:
                kind = feature.WhichOneof("stats")
                common = getattr(feature, kind).common_stats if kind else None
                numeric = feature.num_stats if kind == "num_stats" else None
                rows.append(
                    (
                        split,
                        feature.path.step[-1] if feature.path.step else feature.name,
                        common.num_non_missing if common else "",
                        common.num_missing if common else "",
                        numeric.min if numeric else "",
                        numeric.mean if numeric else "",
                        numeric.max if numeric else "",
                        feature.string_stats.unique if kind == "string_stats" else "",
                    )
                )
    head = ("split", "feature", "present", "missing", "min", "mean", "max", "unique")
    # TFDV's page loads Facets from the web; the table below works offline.
    return f'<iframe class="stats" srcdoc="{html.escape(page)}"></iframe>' + _table(rows, head)


def _anomalies(lineage: dict | None) -> str:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    parts = []
    for a in _artifacts(lineage, "ExampleAnomalies"):
        checks = os.path.join(a["uri"], files.IMAGE_CHECKS_FILE)
        # ImageChecks' output repeats TFDV's anomalies beside its own report.
        tfdv_files = (
            [] if os.path.isfile(checks) else glob.glob(f"{a['uri']}/Split-*/SchemaDiff.pb")
        )
        for path in sorted(tfdv_files):
            anomalies = anomalies_pb2.Anomalies()
            with open(path, "rb") as f:
                anomalies.ParseFromString(f.read())
            split = os.path.basename(os.path.dirname(path))
            rows = [(split, k, v.short_description) for k, v in anomalies.anomaly_info.items()]
            parts.append(_table(rows, ("split", "feature", "anomaly")) if rows else "")
            if not rows:
                parts.append(f"<p>TFDV {html.escape(split)}: no anomalies</p>")
        if os.path.isfile(checks):
            issues = json.load(open(checks)).get("issues", [])
            rows = [(i.get("severity"), i.get("check"), i.get("message")) for i in issues]
            parts.append(
                _table(rows, ("severity", "check", "finding"))
                if rows
                else "<p>image checks: none</p>"
            )
    return "".join(parts) or "<p>no data checks in ML Metadata</p>"


def _curves(lineage: dict | None, provenance: dict) -> str:
    parts = []
    for a in _artifacts(lineage, "ModelRun"):
        curve = os.path.join(a["uri"], files.LOSS_CURVE_FILE)
        if os.path.isfile(curve):
            parts.append(_img(open(curve, "rb").read(), "image/png", "learning curves"))
    evaluation = provenance.get("evaluation") or {}
    uri = evaluation.get("evaluation_uri")
    if uri and os.path.isfile(os.path.join(uri, files.RETURN_PLOT_FILE)):
        plot = open(os.path.join(uri, files.RETURN_PLOT_FILE), "rb").read()
        parts.append(_img(plot, "image/png", "return over training"))
    if uri and os.path.isfile(os.path.join(uri, files.POLICY_REPORT_FILE)):
        import matplotlib.pyplot as plt

        returns = json.load(open(os.path.join(uri, files.POLICY_REPORT_FILE))).get("returns") or []
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist(returns, bins=min(20, max(len(returns), 1)))
        ax.set_xlabel("evaluation return")
        ax.set_ylabel("episodes")
        parts.append(_png(fig))
    return "".join(parts) or "<p>no curves found</p>"


_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
    ".grid{display:flex;flex-wrap:wrap}figure{margin:4px;text-align:center;font-size:12px}"
    "figure img{width:96px;height:96px;image-rendering:pixelated}"
    "iframe.stats{width:100%;height:600px;border:1px solid #ccc}"
)


def build(target: str, serving_base: str, home: str) -> str:
    """The HTML page for `MODEL[:VERSION]` (newest complete version if none)."""
    from components.atomic_pusher.provenance import read_provenance, summary_line
    from contracts.serving_base import complete_versions
    from vrl import lineage as lineage_lib

    model, _, version_text = target.partition(":")
    model_dir = os.path.join(serving_base, model)
    versions = complete_versions(model_dir)
    if not versions:
        raise FileNotFoundError(f"{model_dir}: no complete version of {model!r}")
    version = int(version_text) if version_text else versions[-1]
    version_dir = os.path.join(model_dir, str(version))
    prov = read_provenance(version_dir)
    if prov is None:
        raise ValueError(f"{version_dir}: no provenance; pushed before provenance existed")
    try:
        lineage = lineage_lib.lineage(f"{model}:{version}", home=home)
    except (FileNotFoundError, ValueError):
        lineage = None
    data = prov.get("data") or {}
    evaluation = prov.get("evaluation") or {}
    sections = [
        f"<h1>{html.escape(model)} version {version}</h1>",
        f"<p>{html.escape(summary_line(prov))}</p>",
        "<h2>Decision</h2>",
        _table(
            [
                (k, evaluation.get(k))
                for k in (
                    "blessed",
                    "reason",
                    "failed_thresholds",
                    "metric",
                    "value",
                    "delta",
                    "baseline",
                )
                if k in evaluation
            ]
        ),
    ]
    if data:
        sections += ["<h2>Ingest</h2>", _table(sorted((k, v) for k, v in data.items()))]
    if prov.get("kind") != "rl":
        sections += ["<h2>Data checks</h2>", _anomalies(lineage)]
        sections += ["<h2>Statistics (TFDV)</h2>", _statistics(lineage)]
        per_class = sorted((evaluation.get("per_class_accuracy") or {}).items())
        sections += ["<h2>Evaluation</h2>", _table(per_class, ("class", "accuracy (TFMA)"))]
        sections += [_classification(version_dir, prov)]
    sections += ["<h2>Training</h2>", _curves(lineage, prov)]
    sections += [_table(sorted((prov.get("trainer") or {}).items()), ("setting", "value"))]
    metrics = (prov.get("metrics") or {}).get("training") or {}
    sections += [_table(sorted(metrics.items()), ("metric", "value"))]
    if lineage:
        text = lineage_lib.render(lineage)
        sections += ["<h2>Lineage</h2>", f"<pre>{html.escape(text)}</pre>"]
    body = "\n".join(sections)
    title = html.escape(f"{model} {version}")
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style><script>{_LOAD_CHECK}</script></head><body>{body}</body></html>"
    )


# Marks on <body> how many images decoded and how many script errors occurred,
# so a headless browser's DOM dump tells whether the page rendered whole.
_LOAD_CHECK = (
    "var vrlErrors=0;window.addEventListener('error',function(){vrlErrors++;},true);"
    "window.addEventListener('load',function(){var im=document.images,ok=0;"
    "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}"
    "document.body.setAttribute('data-images',ok+'/'+im.length);"
    "document.body.setAttribute('data-errors',String(vrlErrors));});"
)


def write_beside_run(pushed_path: str, serving_base: str, home: str, pipeline_root: str) -> str:
    """Writes the report of a run's pushed version to `<pipeline_root>/reports/`
    (once per version) and returns its path."""
    version_dir = pushed_path.rstrip("/")
    model, version = os.path.basename(os.path.dirname(version_dir)), os.path.basename(version_dir)
    out = os.path.join(pipeline_root, "reports", f"{model}-{version}.html")
    if not os.path.exists(out):
        page = build(f"{model}:{version}", serving_base, home)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = f"{out}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, out)
    return out


def print_run_report(pushed_path: str, serving_base: str, home: str, pipeline_root: str) -> None:
    """The command line's hook after a run: write the page, say where (or why not)."""
    try:
        print(f"report: {write_beside_run(pushed_path, serving_base, home, pipeline_root)}")
    except (OSError, ValueError) as e:  # the run itself succeeded; say what failed
        print(f"report not written: {e}")


def _cmd_report(args: argparse.Namespace) -> int:
    page = build(args.target, args.serving_base, args.home)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(page)
    print(f"wrote {args.out} ({len(page) // 1024} KiB)")
    return 0
