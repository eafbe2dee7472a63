"""SpanDrift executor: the new span's statistics against the span the served model trained on."""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow_data_validation as tfdv
from absl import logging
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils, writer_utils
from tfx_bsl.public import tfxio

from components.outputs import ensure_output_dirs
from components.served_baseline.executor import is_present
from components.span_drift import constants as c
from components.span_drift import ops
from components.span_drift.verdict import drift_line
from contracts import files
from contracts.serving_base import PROVENANCE_FILE

SCHEMA_DIFF_FILE = "SchemaDiff.pb"  # the file name ExampleValidator writes


class SpanDriftHalt(ValueError):
    """Raised when the span drifted and the pipeline is set to halt on it (the data
    is what changed)."""


def trained_examples(baseline: types.Artifact) -> tuple[str | None, dict]:
    """(examples URI, {version, span}) the served model was trained on, from the
    provenance inside its copy; (None, reason) when there is none to compare with."""
    if not is_present(baseline):
        return None, {"why": "no model is served yet (first span)"}
    path = os.path.join(path_utils.serving_model_dir(baseline.uri), PROVENANCE_FILE)
    if not fileio.exists(path):
        return None, {"why": "the served version has no provenance"}
    data = json.loads(io_utils.read_string_file(path)).get("data") or {}
    uri = data.get("examples_uri")
    seen = {"span": data.get("span"), "examples_uri": uri}
    if not uri or not fileio.glob(os.path.join(uri, f"Split-{c.COMPARED_SPLIT}", "*")):
        return None, {**seen, "why": "the served version's training examples are gone"}
    return uri, seen


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes drift anomalies (TFDV format), the compared statistics and span_drift.json."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ensure_output_dirs(output_dict)
        out = artifact_utils.get_single_instance(output_dict[c.ANOMALIES_KEY])
        out.split_names = artifact_utils.encode_split_names([c.COMPARED_SPLIT])
        stats = artifact_utils.get_single_instance(input_dict[c.STATISTICS_KEY])
        schema_uri = artifact_utils.get_single_uri(input_dict[c.SCHEMA_KEY])
        baseline = artifact_utils.get_single_instance(input_dict[c.BASELINE_MODEL_KEY])
        uri, compared = trained_examples(baseline)
        verdict: dict[str, Any] = {"compared_with": compared, "drifted": []}
        if uri is not None:
            previous_path = os.path.join(out.uri, files.SPAN_DRIFT_BASELINE_STATISTICS)
            self._statistics(uri, previous_path)
            schema = ops.with_drift_comparators(
                io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_uri)),
                float(exec_properties[c.MAX_L_INFINITY_KEY]),
                float(exec_properties[c.MAX_JS_DIVERGENCE_KEY]),
            )
            current = stats_artifact_utils.load_statistics(stats, c.COMPARED_SPLIT).proto()
            anomalies = ops.drift_anomalies(current, tfdv.load_stats_binary(previous_path), schema)
            split_dir = os.path.join(out.uri, f"Split-{c.COMPARED_SPLIT}")
            fileio.makedirs(split_dir)
            writer_utils.write_anomalies(os.path.join(split_dir, SCHEMA_DIFF_FILE), anomalies)
            verdict["drifted"] = ops.drifted_features(anomalies)
        out.set_int_custom_property(c.DRIFTED_PROPERTY, int(bool(verdict["drifted"])))
        halt = bool(exec_properties.get(c.HALT_KEY, 0))
        verdict["halted"] = halt and bool(verdict["drifted"])
        io_utils.write_string_file(
            os.path.join(out.uri, files.SPAN_DRIFT_FILE), json.dumps(verdict, indent=2)
        )
        if not verdict["drifted"]:
            logging.info("SpanDrift: no drift (%s)", compared.get("why") or compared)
            return
        line = drift_line(verdict["drifted"])
        if verdict["halted"]:
            raise SpanDriftHalt(
                f"span drift against span {compared.get('span')} (the served model's): {line}; "
                "the run stops before training (halt_on_span_drift)"
            )
        logging.warning("SpanDrift: span drifted: %s", line)

    def _statistics(self, examples_uri: str, out_path: str) -> None:
        """TFDV statistics of the compared split of `examples_uri` (the compared image
        features only), made as StatisticsGen makes them."""
        pattern = os.path.join(examples_uri, f"Split-{c.COMPARED_SPLIT}", "*")
        source = tfxio.TFExampleRecord(file_pattern=pattern, telemetry_descriptors=["SpanDrift"])
        options = ops.statistics_options(ops.COMPARED)
        with self._make_beam_pipeline() as p:
            _ = (
                p
                | "Read" >> source.BeamSource()
                | "Stats" >> tfdv.GenerateStatistics(options)
                | "Write" >> tfdv.WriteStatisticsToBinaryFile(out_path)
            )
