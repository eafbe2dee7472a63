"""Span drift with TFDV's own drift comparators: pure functions over statistics protos.

The schema gets a `drift_comparator` per image feature that has none yet:
L-infinity distance for the categorical ones (format, label name: a new format
or another class mix), Jensen-Shannon divergence for the numeric ones (height,
width, channels: other sizes). `tfdv.validate_statistics(..., previous_statistics=)`
then measures them, as ExampleValidator would with a previous span. A curated
schema's own comparators are kept.

`statistics_options` is how both sides' statistics are made: the pipeline's
StatisticsGen and SpanDrift's statistics of the served span use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from contracts import features

CATEGORICAL = (features.FORMAT_KEY, features.LABEL_NAME_KEY)
NUMERIC = (features.HEIGHT_KEY, features.WIDTH_KEY, features.CHANNELS_KEY)
COMPARED = CATEGORICAL + NUMERIC
DRIFT_TYPES = (
    anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
    anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
)


def statistics_options(features_allowed: Sequence[str] | None = None) -> tfdv.StatsOptions:
    """TFDV options of StatisticsGen and of SpanDrift's statistics of the served span.

    Top-k and unique counts come from TFDV's sketches (Misra-Gries, 1,024 buckets;
    KMV, 16,384), the way TFDV's in-memory statistics always make them, instead of
    its exact Beam combine, which groups every distinct value: on 70,000 images the
    encoded bytes and the sha256 strings are 70,000 distinct values each, and that
    grouping was about 40% of StatisticsGen's CPU seconds. Top values and rank
    histograms stay exact up to 1,024 distinct values (every feature a schema
    domain, ExampleValidator or a drift comparator reads here has a few); above
    16,384 the unique count is an estimate (only the image bytes and the hashes,
    which no check reads: ImageChecks counts duplicates itself).
    """
    return tfdv.StatsOptions(
        feature_allowlist=list(features_allowed) if features_allowed else None,
        use_sketch_based_topk_uniques=True,
    )


def with_drift_comparators(
    schema: schema_pb2.Schema, max_l_infinity: float, max_js_divergence: float
) -> schema_pb2.Schema:
    """A copy of `schema` with drift comparators on the image features lacking one."""
    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    for feature in out.feature:
        if feature.HasField("drift_comparator"):
            continue
        if feature.name in CATEGORICAL:
            feature.drift_comparator.infinity_norm.threshold = max_l_infinity
        elif feature.name in NUMERIC:
            feature.drift_comparator.jensen_shannon_divergence.threshold = max_js_divergence
    return out


def drift_anomalies(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    previous: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
) -> anomalies_pb2.Anomalies:
    """TFDV's anomalies of `current` against `previous`, drift reasons only (the schema's
    own checks are ExampleValidator's), with TFDV's drift measurements."""
    found = tfdv.validate_statistics(current, schema, previous_statistics=previous)
    out = anomalies_pb2.Anomalies()
    out.baseline.CopyFrom(found.baseline)
    out.anomaly_name_format = found.anomaly_name_format
    out.drift_skew_info.extend(found.drift_skew_info)
    for name, info in found.anomaly_info.items():
        reasons = [r for r in info.reason if r.type in DRIFT_TYPES]
        if reasons:
            kept = out.anomaly_info[name]
            kept.CopyFrom(info)
            del kept.reason[:]
            kept.reason.extend(reasons)
    return out


def drifted_features(anomalies: anomalies_pb2.Anomalies) -> list[dict]:
    """One entry per drifted feature: name, comparator, measured value and threshold."""
    measured = {}
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        for m in info.drift_measurements:
            if m.value > m.threshold:
                kind = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type)
                measured[name] = {"comparator": kind, "value": m.value, "threshold": m.threshold}
    out = []
    for name in sorted(anomalies.anomaly_info):
        entry = {"feature": name, **measured.get(name, {})}
        entry["description"] = anomalies.anomaly_info[name].description
        out.append(entry)
    return out
