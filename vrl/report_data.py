"""The report's data sections: TFDV's statistics and anomalies and the image checks,
rendered as inline tables and embedded PNGs so the page needs no network (TFDV's
own HTML loads the Facets component from the web and shows a blank box offline).
"""

from __future__ import annotations

import base64
import glob
import html
import io
import json
import os

from contracts.files import IMAGE_CHECKS_FILE


def png(fig, alt: str = "plot") -> str:
    """A matplotlib figure as an embedded <img> (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return img(buffer.getvalue(), "image/png", alt)


def img(data: bytes, mime: str, alt: str = "plot") -> str:
    """Bytes of an image as an embedded <img>."""
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{encoded}">'


def table(rows: list[tuple], head: tuple | None = None) -> str:
    """An HTML table of plain values (floats to 4 significant digits)."""
    out = ["<table>"]
    if head:
        out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr>")
    for row in rows:
        cells = "".join(f"<td>{html.escape(fmt(c))}</td>" for c in row)
        out.append(f"<tr>{cells}</tr>")
    return "".join(out) + "</table>"


def fmt(value) -> str:
    """One cell's text."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def artifacts(lineage: dict | None, type_name: str) -> list[dict]:
    """The artifacts of one type a lineage walk reached (each once)."""
    if not lineage:
        return []
    seen, out = set(), []
    for step in lineage["steps"]:
        for a in step["inputs"] + step.get("outputs", []):
            if a["type"] == type_name and a["id"] not in seen:
                seen.add(a["id"])
                out.append(a)
    return out


def _feature_name(feature) -> str:
    return feature.path.step[-1] if feature.path.step else feature.name


def _load_splits(uri: str) -> list[tuple[str, object]]:
    """(split, DatasetFeatureStatistics) for each Split-*/FeatureStats.pb of an artifact."""
    import tensorflow_data_validation as tfdv

    out = []
    for path in sorted(glob.glob(os.path.join(uri, "Split-*", "FeatureStats.pb"))):
        split = os.path.basename(os.path.dirname(path))[len("Split-") :]
        for dataset in tfdv.load_stats_binary(path).datasets:
            out.append((split, dataset))
    return out


def _vocabulary(strings, common) -> bool:
    """True for a string feature with a few repeated values (class names, formats), not
    bytes or per-example ids such as hashes."""
    if strings is None or not strings.top_values or strings.unique > 20:
        return False
    if any(v.value == "__BYTES_VALUE__" for v in strings.top_values):
        return False
    return strings.unique < common.num_non_missing


def _summary_rows(splits) -> list[tuple]:
    rows = []
    for split, dataset in splits:
        for feature in dataset.features:
            kind = feature.WhichOneof("stats")
            common = getattr(feature, kind).common_stats if kind else None
            numeric = feature.num_stats if kind == "num_stats" else None
            strings = feature.string_stats if kind == "string_stats" else None
            top = ", ".join(
                f"{v.value} ({v.frequency:.0f})" for v in (strings.top_values if strings else [])
            )
            rows.append(
                (
                    split,
                    _feature_name(feature),
                    common.num_non_missing if common else "",
                    common.num_missing if common else "",
                    numeric.min if numeric else "",
                    numeric.mean if numeric else "",
                    numeric.max if numeric else "",
                    strings.unique if strings else "",
                    top[:200] if _vocabulary(strings, common) else "",
                )
            )
    return rows


def _histograms(splits) -> str:
    """One small bar chart per numeric feature, the splits overlaid (TFDV's standard
    histograms: equal-width buckets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric: dict[str, list[tuple[str, object]]] = {}
    for split, dataset in splits:
        for feature in dataset.features:
            if feature.WhichOneof("stats") != "num_stats":
                continue
            standard = [h for h in feature.num_stats.histograms if h.type == h.STANDARD]
            if standard and standard[0].buckets:
                numeric.setdefault(_feature_name(feature), []).append((split, standard[0]))
    if not numeric:
        return ""
    fig, axes = plt.subplots(1, len(numeric), figsize=(3.2 * len(numeric), 2.4), squeeze=False)
    for ax, (name, per_split) in zip(axes[0], sorted(numeric.items()), strict=True):
        for split, histogram in per_split:
            lows = [b.low_value for b in histogram.buckets]
            widths = [max(b.high_value - b.low_value, 1e-9) for b in histogram.buckets]
            counts = [b.sample_count for b in histogram.buckets]
            ax.bar(lows, counts, width=widths, align="edge", alpha=0.5, label=split)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    return png(fig, "feature histograms (TFDV statistics)")


def statistics(lineage: dict | None) -> str:
    """TFDV's statistics of the run's examples: a table per feature and split (with
    the most frequent values of small vocabularies) and numeric histograms."""
    stats = artifacts(lineage, "ExampleStatistics")
    if not stats:
        return "<p>no statistics in ML Metadata</p>"
    splits = _load_splits(stats[0]["uri"])
    if not splits:
        return f"<p>{html.escape(stats[0]['uri'])}: no Split-*/FeatureStats.pb</p>"
    head = ("split", "feature", "present", "missing", "min", "mean", "max", "unique", "top values")
    return table(_summary_rows(splits), head) + _histograms(splits)


def anomalies(lineage: dict | None) -> str:
    """TFDV's anomalies per split and the image checks' findings."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    parts = []
    for a in artifacts(lineage, "ExampleAnomalies"):
        checks = os.path.join(a["uri"], IMAGE_CHECKS_FILE)
        # ImageChecks' output repeats TFDV's anomalies beside its own report.
        tfdv_files = (
            [] if os.path.isfile(checks) else glob.glob(f"{a['uri']}/Split-*/SchemaDiff.pb")
        )
        for path in sorted(tfdv_files):
            found = anomalies_pb2.Anomalies()
            with open(path, "rb") as f:
                found.ParseFromString(f.read())
            split = os.path.basename(os.path.dirname(path))
            rows = [(split, k, v.short_description) for k, v in found.anomaly_info.items()]
            parts.append(table(rows, ("split", "feature", "anomaly")) if rows else "")
            if not rows:
                parts.append(f"<p>TFDV {html.escape(split)}: no anomalies</p>")
        if os.path.isfile(checks):
            with open(checks, encoding="utf-8") as f:
                issues = json.load(f).get("issues", [])
            rows = [(i.get("severity"), i.get("check"), i.get("message")) for i in issues]
            parts.append(
                table(rows, ("severity", "check", "finding"))
                if rows
                else "<p>image checks: none</p>"
            )
    return "".join(parts) or "<p>no data checks in ML Metadata</p>"
