"""SpanDrift's verdict as text: shared by its executor (logs, the halt message) and
`vrl run image`'s summary, which reads span_drift.json. Standard library only."""

from __future__ import annotations


def drift_line(drifted: list[dict]) -> str:
    """`format (L_INFTY 0.83 > 0.25), width (...)` from span_drift.json's `drifted`."""
    parts = []
    for d in drifted:
        if "value" in d:
            parts.append(
                f"{d['feature']} ({d['comparator']} {d['value']:.3g} > {d['threshold']:.3g})"
            )
        else:
            parts.append(d["feature"])
    return ", ".join(parts)
