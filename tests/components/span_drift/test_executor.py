"""SpanDrift executor: real ImageExampleGen spans, TFX's StatisticsGen, TFDV's comparators.

The span the served model was trained on is found as in a run: through the
provenance inside ServedBaseline's copy of the served version.
"""

from __future__ import annotations

import glob
import io
import json
import os

import pytest
import tensorflow_data_validation as tfdv
from PIL import Image
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.statistics_gen import executor as stats_executor
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as std
from tfx.utils import path_utils

from components.span_drift import constants as c
from components.span_drift import executor, ops
from contracts import files
from contracts.serving_base import PROVENANCE_FILE
from tests.components.image_example_gen.test_executor import BEAM_ARGS, _props, _run
from vrl import demo_data

pytestmark = pytest.mark.slow  # computes TFDV statistics with Beam: not in `make check`

ONE_SPLIT = example_gen_pb2.Output(
    split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name=c.COMPARED_SPLIT, hash_buckets=1)]
    )
)


def _ingest(folder, out):
    split = example_gen_pb2.Input.Split(name="s", pattern="*/*")
    examples, _ = _run(str(out), _props(folder, example_gen_pb2.Input(splits=[split]), ONE_SPLIT))
    examples.split_names = artifact_utils.encode_split_names([c.COMPARED_SPLIT])
    return examples


def _statistics(examples, out, options=ops.statistics_options()):
    """TFX's StatisticsGen with the pipeline's options (None: TFDV's defaults)."""
    stats = standard_artifacts.ExampleStatistics()
    stats.uri = str(out)
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=BEAM_ARGS)
    props = {std.STATS_OPTIONS_JSON_KEY: options.to_json()} if options else {}
    stats_executor.Executor(context).Do(
        {std.EXAMPLES_KEY: [examples]}, {std.STATISTICS_KEY: [stats]}, props
    )
    return stats


def _train_stats(stats):
    return tfdv.load_stats_binary(os.path.join(stats.uri, "Split-train", "FeatureStats.pb"))


@pytest.fixture(scope="module")
def spans(tmp_path_factory):
    """span-1: the shapes as drawn; span-2: the same drawings as 96x96 JPEGs."""
    root = tmp_path_factory.mktemp("drift")
    demo_data.make_shapes(str(root / "span-1"), per_class=8, seed=1)
    for path in glob.glob(str(root / "span-1" / "*" / "*")):
        target = root / "span-2" / os.path.relpath(path, root / "span-1")
        target.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        Image.open(path).convert("RGB").resize((96, 96)).save(buf, "JPEG")
        target.with_suffix(".jpg").write_bytes(buf.getvalue())
    ex1, ex2 = _ingest(root / "span-1", root / "e1"), _ingest(root / "span-2", root / "e2")
    stats1, stats2 = _statistics(ex1, root / "s1"), _statistics(ex2, root / "s2")
    schema = standard_artifacts.Schema()
    schema.uri = str(root / "schema")
    os.makedirs(schema.uri)
    tfdv.write_schema_text(
        tfdv.infer_schema(_train_stats(stats1)), os.path.join(schema.uri, "schema.pbtxt")
    )
    served = standard_artifacts.Model()
    served.uri = str(root / "served")
    version = path_utils.serving_model_dir(served.uri)
    os.makedirs(os.path.join(version, "assets.extra"))
    open(os.path.join(version, "saved_model.pb"), "wb").close()  # ServedBaseline's presence test
    with open(os.path.join(version, PROVENANCE_FILE), "w") as f:
        json.dump({"data": {"span": 1, "examples_uri": ex1.uri}}, f)
    return {
        "root": root,
        "examples": (ex1, ex2),
        "stats1": stats1,
        "stats2": stats2,
        "schema": schema,
        "served": served,
    }


def _drift(spans, stats, out, halt=0, served=None):
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(out)
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=BEAM_ARGS)
    props = {c.MAX_L_INFINITY_KEY: 0.25, c.MAX_JS_DIVERGENCE_KEY: 0.25, c.HALT_KEY: halt}
    inputs = {
        c.STATISTICS_KEY: [stats],
        c.SCHEMA_KEY: [spans["schema"]],
        c.BASELINE_MODEL_KEY: [served or spans["served"]],
    }
    executor.Executor(context).Do(inputs, {c.ANOMALIES_KEY: [anomalies]}, props)
    with open(os.path.join(anomalies.uri, files.SPAN_DRIFT_FILE)) as f:
        return anomalies, json.load(f)


def test_span_with_other_formats_and_sizes_is_flagged(spans, tmp_path):
    anomalies, verdict = _drift(spans, spans["stats2"], tmp_path / "a")
    drifted = {d["feature"]: d for d in verdict["drifted"]}
    assert {"format", "height", "width"} <= set(drifted)
    assert drifted["format"]["comparator"] == "L_INFTY" and drifted["format"]["value"] > 0.25
    assert anomalies.get_int_custom_property(c.DRIFTED_PROPERTY) == 1
    assert verdict["compared_with"]["span"] == 1 and not verdict["halted"]
    # Written as ExampleValidator writes anomalies (a binary TFDV Anomalies proto).
    loaded = anomalies_pb2.Anomalies.FromString(
        open(os.path.join(anomalies.uri, "Split-train", "SchemaDiff.pb"), "rb").read()
    )
    assert "format" in loaded.anomaly_info


def test_same_span_again_is_not_flagged(spans, tmp_path):
    anomalies, verdict = _drift(spans, spans["stats1"], tmp_path / "b", halt=1)
    assert verdict["drifted"] == [] and verdict["halted"] is False
    assert anomalies.get_int_custom_property(c.DRIFTED_PROPERTY) == 0


def test_same_span_measures_no_drift_at_all(spans, tmp_path):
    """SpanDrift's statistics of the served span equal StatisticsGen's of the same span,
    feature for feature: every comparator measures exactly 0."""
    anomalies, _ = _drift(spans, spans["stats1"], tmp_path / "e")
    found = anomalies_pb2.Anomalies.FromString(
        open(os.path.join(anomalies.uri, "Split-train", "SchemaDiff.pb"), "rb").read()
    )
    measured = {
        ".".join(i.path.step): [m.value for m in i.drift_measurements]
        for i in found.drift_skew_info
    }
    assert set(measured) == set(ops.COMPARED)
    assert all(v == [0.0] for v in measured.values()), measured


def test_sketched_statistics_find_what_exact_ones_find(spans, tmp_path):
    """The pipeline's statistics (TFDV's top-k/unique sketches) against TFDV's exact
    defaults on the same spans: the same inferred schema, the same ExampleValidator
    anomalies (span 2 against span 1's schema: other formats and sizes) and the same
    drift measurements."""
    sketched = [_train_stats(spans["stats1"]), _train_stats(spans["stats2"])]
    exact = [
        _train_stats(_statistics(ex, tmp_path / f"exact{i}", options=None))
        for i, ex in enumerate(spans["examples"])
    ]
    schema = tfdv.infer_schema(exact[0])
    assert tfdv.infer_schema(sketched[0]) == schema
    found = tfdv.validate_statistics(sketched[1], schema)
    assert found.anomaly_info and found == tfdv.validate_statistics(exact[1], schema)
    drift_schema = ops.with_drift_comparators(schema, 0.25, 0.25)
    drifted = ops.drift_anomalies(sketched[1], sketched[0], drift_schema)
    assert ops.drifted_features(drifted)
    assert drifted == ops.drift_anomalies(exact[1], exact[0], drift_schema)


def test_drifted_span_halts_the_run_when_asked_naming_the_features(spans, tmp_path):
    with pytest.raises(executor.SpanDriftHalt, match=r"format \(L_INFTY .*width"):
        _drift(spans, spans["stats2"], tmp_path / "c", halt=1)


def test_first_span_has_nothing_to_compare_with(spans, tmp_path):
    nothing = standard_artifacts.Model()
    nothing.uri = str(tmp_path / "none")
    _, verdict = _drift(spans, spans["stats2"], tmp_path / "d", halt=1, served=nothing)
    assert verdict["drifted"] == [] and "first span" in verdict["compared_with"]["why"]
