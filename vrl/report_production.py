"""The report's "production" section: what `vrl monitor` last found for a version.

Reads the monitor's --out folder (vrl/monitor_files.py): the verdict of its last
run and, for the reported version, the TFDV statistics of the served traffic and
of the reference it was compared with (the training span; for a policy, its
evaluation episodes). Each feature becomes one PNG, reference and served side by
side on the same axes' range (TFDV's own histograms: equal-width buckets for
numbers, value counts for strings), titled with TFDV's distance and threshold.
"""

from __future__ import annotations

import html
import json
import os

from vrl import monitor_files
from vrl.report_data import png, table


def _feature_name(feature) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


def _by_feature(stats) -> dict:
    return {_feature_name(f): f for f in stats.datasets[0].features} if stats.datasets else {}


def _numeric_bars(feature) -> list[tuple[float, float, float]]:
    """(low, high, fraction) of each bucket of a numeric feature's standard histogram."""
    if feature is None:
        return []
    standard = [h for h in feature.num_stats.histograms if h.type == h.STANDARD]
    buckets = standard[0].buckets if standard else []
    total = sum(b.sample_count for b in buckets) or 1.0
    return [(b.low_value, b.high_value, b.sample_count / total) for b in buckets]


def _draw_numeric(axes, sides) -> None:
    """Both sides' buckets on a shared x range; a bucket of one value (a constant
    feature) is drawn 1/40 of the range wide, centred on it, so it shows."""
    bars = [_numeric_bars(feature) for _, feature, _ in sides]
    edges = [edge for side in bars for low, high, _ in side for edge in (low, high)]
    least = (max(edges) - min(edges)) / 40 if edges and max(edges) > min(edges) else 0.5
    for ax, (label, _, colour), side in zip(axes, sides, bars, strict=True):
        for low, high, fraction in side:
            wide = max(high - low, least)
            ax.bar((low + high) / 2, fraction, width=wide, color=colour)
        ax.set_title(label if side else f"{label}: no values", fontsize=8)
        ax.tick_params(labelsize=7)


def _value_counts(feature) -> dict[str, float]:
    """Fraction of each value of a string feature (its rank histogram, else top values)."""
    stats = feature.string_stats
    pairs = [(b.label, b.sample_count) for b in stats.rank_histogram.buckets]
    pairs = pairs or [(v.value, v.frequency) for v in stats.top_values]
    total = sum(count for _, count in pairs) or 1.0
    return {label: count / total for label, count in pairs}


def _title(name: str, measured: dict | None) -> str:
    if not measured:
        return name
    status = "DRIFT" if measured["drifted"] else "ok"
    distance, threshold = measured["distance"], measured["threshold"]
    return f"{name}: {status} (distance {distance:.3g}, threshold {threshold:.3g})"


def feature_figure(name: str, reference, served, measured: dict | None, labels: tuple):
    """One matplotlib figure: the feature's reference and served histograms side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.2), sharex=True, sharey=True)
    sides = ((labels[0], reference, "tab:blue"), (labels[1], served, "tab:orange"))
    if any(f is not None and f.HasField("string_stats") for _, f, _ in sides):
        counts = [_value_counts(f) if f is not None else {} for _, f, _ in sides]
        values = sorted(set(counts[0]) | set(counts[1]))
        for ax, (label, _, colour), count in zip(axes, sides, counts, strict=True):
            ax.bar(range(len(values)), [count.get(v, 0.0) for v in values], color=colour)
            ax.set_xticks(range(len(values)), values, rotation=30, fontsize=7, ha="right")
            ax.set_title(label, fontsize=8)
    else:
        _draw_numeric(axes, sides)
    axes[0].set_ylabel("fraction", fontsize=7)
    fig.suptitle(_title(name, measured), fontsize=9)
    fig.tight_layout()
    return fig


def _load(path: str):
    import tensorflow_data_validation as tfdv

    return tfdv.load_stats_text(path)


def _verdict_rows(verdict: dict) -> list[tuple]:
    low, high = verdict.get("window") or (None, None)
    rows = [
        ("checked at", verdict.get("checked_at")),
        ("window (epoch s)", f"{low:.0f} to {high:.0f}" if low is not None else "-"),
        ("logged requests", verdict.get("requests")),
        (
            "log files read / skipped",
            f"{verdict.get('files_read')} / {verdict.get('files_skipped')}",
        ),
        ("schema (thresholds)", verdict.get("schema")),
    ]
    drifted = verdict.get("drifted")
    if drifted is None:
        rows.append(("verdict", "no logged traffic in the window"))
    else:
        rows.append(("verdict", f"DRIFT: {', '.join(drifted)}" if drifted else "no drift"))
    return rows


def section(monitor_dir: str, version: int | str) -> str:
    """HTML of the production section for one pushed version, from `vrl monitor`'s
    output folder (a line saying what is missing when it has nothing to show)."""
    path = os.path.join(monitor_dir, monitor_files.VERDICT_FILE)
    if not os.path.isfile(path):
        return (
            f"<p>no <code>vrl monitor</code> verdict at {html.escape(path)}: run "
            "<code>vrl monitor MODEL --model-config FILE</code> (or pass --monitor DIR)</p>"
        )
    with open(path, encoding="utf-8") as f:
        verdict = json.load(f)
    parts = ["<h3>Last verdict</h3>", table(_verdict_rows(verdict))]
    mine = (verdict.get("versions") or {}).get(str(version))
    if mine is None:
        answered = ", ".join(sorted(verdict.get("versions") or {})) or "none"
        parts.append(
            f"<p>version {html.escape(str(version))} answered no logged request in that "
            f"window (versions that did: {html.escape(answered)})</p>"
        )
        return "".join(parts)
    found = ", ".join(mine["drifted"]) or "none"
    parts.append(f"<p>drifted features of version {version}: <b>{html.escape(found)}</b></p>")
    head = ("feature", "comparator", "reference", "served", "distance", "threshold", "status")
    rows = [
        (m["feature"], m["comparator"], m["reference"], m["served"], m["distance"],
         m["threshold"], "DRIFT" if m["drifted"] else "ok")
        for m in mine["measurements"]
    ]  # fmt: skip
    parts.append(table(rows, head))
    parts.append(_figures(monitor_files.version_folder(monitor_dir, version), mine))
    return "".join(parts)


def _figures(folder: str, mine: dict) -> str:
    """One embedded PNG per feature, drifted ones first."""
    reference_path = os.path.join(folder, monitor_files.REFERENCE_STATS)
    served_path = os.path.join(folder, monitor_files.SERVED_STATS)
    if not (os.path.isfile(reference_path) and os.path.isfile(served_path)):
        return f"<p>{html.escape(folder)}: statistics missing; run vrl monitor again</p>"
    reference, served = _by_feature(_load(reference_path)), _by_feature(_load(served_path))
    measured = {m["feature"]: m for m in mine["measurements"]}
    names = sorted(set(reference) | set(served), key=lambda n: (n not in mine["drifted"], n))
    labels = (mine.get("reference", "training span"), "served traffic")
    figures = []
    for name in names:
        fig = feature_figure(
            name, reference.get(name), served.get(name), measured.get(name), labels
        )
        figures.append(png(fig, f"{name}: {labels[0]} vs served"))
    return "<h3>Histograms</h3>" + "".join(f"<div>{f}</div>" for f in figures)
