"""ImageExampleGen as a TFX component: spec, defaults, and a LocalDagRunner run
with spans and caching (TFX's FileBasedDriver)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.components.example_gen import driver
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.orchestration import metadata
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfp_v2
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.pipeline import Pipeline
from tfx.utils import import_utils

from components.image_example_gen import (
    SPAN_FOLDER_PATTERN,
    ImageExampleGen,
    QuarantineReport,
    default_input_config,
    default_output_config,
    spec,
)
from contracts import features, files
from vrl import demo_data
from vrl.runner import local_beam_args


def test_component_is_a_file_based_example_gen_with_a_quarantine_output():
    gen = ImageExampleGen(input_base="/data", max_bad_fraction=0.1, labels=["b", "a"])
    assert isinstance(gen, FileBasedExampleGen)
    assert issubclass(gen.driver_class, driver.FileBasedDriver)
    assert set(gen.outputs) == {"examples", "quarantine"}
    assert gen.outputs["quarantine"].type is QuarantineReport
    assert QuarantineReport.TYPE_NAME == "components.QuarantineReport"
    props = gen.exec_properties
    assert props[spec.MAX_BAD_FRACTION_KEY] == 0.1
    assert json.loads(props[spec.LABELS_KEY]) == ["b", "a"]
    assert props[spec.INPUT_FORMAT_KEY] == "auto"
    assert '"*/*"' in props["input_config"]  # default: class-per-folder
    assert features.SHA256_KEY in props["output_config"]


def test_default_output_config_splits_on_sha256_with_the_given_ratio():
    config = default_output_config(eval_fraction=0.25)
    assert config.split_config.partition_feature_name == features.SHA256_KEY
    buckets = {s.name: s.hash_buckets for s in config.split_config.splits}
    assert buckets == {"train": 75, "eval": 25}
    with pytest.raises(ValueError, match="eval_fraction"):
        default_output_config(eval_fraction=0.0)


def test_invalid_parameters_fail_at_construction():
    with pytest.raises(ValueError, match="input_format"):
        ImageExampleGen(input_base="/d", input_format="parquet")
    with pytest.raises(ValueError, match="max_bad_fraction"):
        ImageExampleGen(input_base="/d", max_bad_fraction=1.5)
    with pytest.raises(ValueError, match="min_side"):
        ImageExampleGen(input_base="/d", min_side=100, max_side=50)


def _executions(pipeline_root):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = os.path.join(pipeline_root, "metadata.sqlite")
    store = metadata_store.MetadataStore(config)
    return store, store.get_executions()


def _run_pipeline(data_dir, pipeline_root):
    gen = ImageExampleGen(
        input_base=str(data_dir),
        input_config=default_input_config(SPAN_FOLDER_PATTERN),
        output_config=default_output_config(0.3),
    )
    pipeline = Pipeline(
        pipeline_name="ingest",
        pipeline_root=str(pipeline_root),
        components=[gen],
        enable_cache=True,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            os.path.join(pipeline_root, "metadata.sqlite")
        ),
        beam_pipeline_args=local_beam_args(),  # none: no TFX sdist per Beam component
    )
    LocalDagRunner().run(pipeline)


@pytest.mark.slow
@pytest.mark.e2e
def test_local_run_resolves_latest_span_caches_and_ingests_a_new_span(tmp_path):
    shapes = tmp_path / "shapes"
    demo_data.make_shapes(str(shapes), per_class=4, seed=1, spans=2)
    data = tmp_path / "data"
    data.mkdir()
    shutil.move(str(shapes / "span-1"), str(data / "span-1"))
    root = tmp_path / "root"

    _run_pipeline(data, root)
    _run_pipeline(data, root)  # unchanged input fingerprint: cached
    shutil.move(str(shapes / "span-2"), str(data / "span-2"))
    _run_pipeline(data, root)

    store, executions = _executions(str(root))
    states = [e.last_known_state for e in executions]
    assert states == [
        metadata_store_pb2.Execution.COMPLETE,
        metadata_store_pb2.Execution.CACHED,
        metadata_store_pb2.Execution.COMPLETE,
    ]
    examples = store.get_artifacts_by_type("Examples")
    assert [a.custom_properties["span"].int_value for a in examples] == [1, 2]
    (first_report, second_report) = store.get_artifacts_by_type(QuarantineReport.TYPE_NAME)
    with open(os.path.join(second_report.uri, files.INGEST_REPORT_FILE)) as f:
        ingest = json.load(f)
    assert ingest["span"] == 2
    assert ingest["seen_per_input_pattern"] == {"span-2/*/*": 20}
    assert ingest["examples_written"] == 20 and ingest["quarantined"] == 0
    assert first_report.custom_properties["files_seen"].int_value == 20


def test_kubeflow_v2_compile_runs_the_file_based_driver_and_names_the_report_type(tmp_path):
    gen = ImageExampleGen(
        input_base="gs://bucket/data", input_config=default_input_config(SPAN_FOLDER_PATTERN)
    )
    pipeline = Pipeline(
        pipeline_name="ingest", pipeline_root=str(tmp_path / "root"), components=[gen]
    )
    out = tmp_path / "spec.json"
    kfp_v2.KubeflowV2DagRunner(
        config=kfp_v2.KubeflowV2DagRunnerConfig(default_image="img:1"),
        output_filename=str(out),
    ).run(pipeline, write_out=True)
    compiled = json.loads(out.read_text())
    compiled = compiled.get("pipelineSpec", compiled)
    outputs = compiled["components"]["ImageExampleGen"]["outputDefinitions"]["artifacts"]
    schema = outputs["quarantine"]["artifactType"]["instanceSchema"]
    assert schema.startswith(f"title: {QuarantineReport.TYPE_NAME}\n")
    container = compiled["deploymentSpec"]["executors"]["ImageExampleGen_executor"]["container"]
    assert "preCacheCheck" in container["lifecycle"]  # span resolution + fingerprint
    assert "components.image_example_gen.executor.Executor" in container["args"]


def test_report_type_name_is_the_import_path_kubeflow_resolves():
    assert import_utils.import_class_by_path(QuarantineReport.TYPE_NAME) is QuarantineReport
