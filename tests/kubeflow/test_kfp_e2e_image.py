"""The image pipeline compiled for open-source Kubeflow Pipelines, with its
pipeline root on an S3 server on loopback, every task run as KFP's driver and
launcher would run it (see kfp_local), each task in a process of its own."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from components.atomic_pusher.provenance import read_provenance
from contracts.serving_base import complete_versions
from kubeflow import kfp_local
from kubeflow.objectstore import bucket_and_key

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = "s3://vrl/pipelines"


def _examples_span(kfp_e2e, results) -> int:
    meta = kfp_e2e.meta(results, "ImageExampleGen", "examples")
    # TFX records the resolved span as a custom property; KFP shows it prefixed.
    return int(meta.get("span", meta.get("custom:span")))


def _diff_metrics(evaluation_uri: str) -> set[str]:
    import tensorflow_model_analysis as tfma

    return {
        kv.key.name
        for metrics in tfma.load_metrics(evaluation_uri)
        for kv in metrics.metric_keys_and_values
        if kv.key.is_diff
    }


def _keys(store, uri: str) -> list[str]:
    bucket, prefix = bucket_and_key(uri)
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_image_pipeline_on_s3_root_caches_unchanged_data_and_gates_new_spans(
    tmp_path, s3_server, kfp_e2e
):
    from vrl import demo_data

    spans = tmp_path / "spans"
    demo_data.make_shapes(str(spans), per_class=12, seed=0, spans=2)
    data = tmp_path / "data"
    data.mkdir()
    os.rename(spans / "span-1", data / "span-1")
    serving = str(tmp_path / "models")
    # One epoch of 200 steps, sanity checks off: this test is about running on
    # Kubeflow (object store, cache, gate against the served model), not about
    # learning, which the local runs check with the checks on
    # (tests/e2e/test_photos_e2e.py, tests/models/cnn/test_trainer_learns.py).
    package = kfp_e2e.compile(
        "image",
        "--pipeline-root",
        ROOT,
        "--serving-base",
        serving,
        "--data",
        str(data),
        "--epochs",
        "1",
        "--min-steps",
        "200",
        "--no-sanity-checks",
        "--image-size",
        "16",
        "--min-accuracy",
        "0",
        "--no-halt-on-anomalies",
        "--beam-arg=--direct_running_mode=in_memory",
        "--beam-arg=--direct_num_workers=1",
    )
    first = kfp_e2e.run(package, "run-1", pipeline_root=ROOT)
    assert _examples_span(kfp_e2e, first) == 1
    assert kfp_e2e.meta(first, "Pusher", "pushed_model")["pushed"] == 1
    model_dir = os.path.join(serving, "image_classifier")
    (v1,) = complete_versions(model_dir)
    # The artifacts live in the S3 server, written there by the launcher's upload.
    examples_uri = first["ImageExampleGen"].outputs["examples"][0]["uri"]
    assert examples_uri == f"{ROOT}/image-classifier/run-1/ImageExampleGen/examples"
    assert any("Split-train/" in k for k in _keys(s3_server, examples_uri))
    assert any(
        k.endswith("saved_model.pb")
        for k in _keys(s3_server, f"{ROOT}/image-classifier/run-1/Trainer")
    )

    # Unchanged data and config: served from KFP's cache from ingest to the
    # trainer; the fingerprint, the served-model lookup and what compares with the
    # served model (the span drift check and the gate) run again. A minimum
    # accuracy of 1.0 (a parameter of the Evaluator alone) refuses the one-epoch
    # model, and the blessing's metadata, which the KFP UI shows, says which
    # bound, on which slice and by how much.
    again = kfp_e2e.run(package, "run-2", params={"min_accuracy": 1.0}, pipeline_root=ROOT)
    assert kfp_e2e.executed(again) == {
        "InputFingerprint",
        "ServedBaseline",
        "SpanDrift",
        "Evaluator",
        "Pusher",
    }
    assert (
        again["Trainer"].outputs["model"][0]["uri"] == first["Trainer"].outputs["model"][0]["uri"]
    )
    refused = kfp_e2e.meta(again, "Evaluator", "blessing")
    assert refused["blessed"] == 0
    assert re.search(
        r"sparse_categorical_accuracy \(value\) = [\d.e-]+ on overall, "
        r"needs >= 1 \(short by [\d.e-]+\)",
        refused["blessing_message"],
    ), refused
    assert kfp_e2e.meta(again, "Pusher", "pushed_model")["pushed"] == 0

    # A new span changes the fingerprint: everything reruns, and the model is
    # compared with the one in production.
    served = v1
    os.rename(spans / "span-2", data / "span-2")
    third = kfp_e2e.run(package, "run-3", params={"max_accuracy_drop": 1.0}, pipeline_root=ROOT)
    assert kfp_e2e.executed(third) == set(third)  # no task served from the cache
    assert _examples_span(kfp_e2e, third) == 2
    baseline = kfp_e2e.meta(third, "ServedBaseline", "model")
    assert baseline["served_present"] == 1 and baseline["served_version"] == served
    evaluation = third["Evaluator"].outputs["evaluation"][0]["uri"]
    local = str(tmp_path / "evaluation")
    assert s3_server.download(evaluation, local) > 0
    assert "sparse_categorical_accuracy" in _diff_metrics(local)  # compared with the served model
    assert kfp_e2e.meta(third, "Evaluator", "blessing")["blessed"] == 1
    pushed = int(kfp_e2e.meta(third, "Pusher", "pushed_model")["pushed_version"])
    assert complete_versions(model_dir) == [v1, pushed]
    # The pushed model's provenance names the served version it was compared with.
    record = read_provenance(os.path.join(model_dir, str(pushed)))
    assert record["evaluation"]["baseline"]["version"] == v1
    assert record["data"]["span"] == 2 and isinstance(record["data"]["quarantined"], int)
    assert record["code"]["image"] == kfp_e2e.image  # the code that made it, by digest


def test_a_mounted_pipeline_root_is_refused_as_the_launcher_refuses_it(tmp_path, s3_server):
    spec = {"pipelineInfo": {"name": "p"}, "root": {"dag": {"tasks": {}}}}
    package = tmp_path / "p.yaml"
    package.write_text(yaml.safe_dump(spec))
    run = kfp_local.Run("r", str(tmp_path), s3_server, pipeline_root=str(tmp_path / "root"))
    with pytest.raises(ValueError, match="object store root"):
        kfp_local.run_pipeline(str(package), run)
