"""The image pipeline compiled for open-source Kubeflow Pipelines, every task run
as KFP's driver and launcher would run it (see kfp_local), in subprocesses."""

from __future__ import annotations

import os

import pytest

from contracts.serving_base import complete_versions
from kubeflow import kfp_local

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


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


def test_image_pipeline_on_kfp_ingests_each_new_span_and_gates_on_the_served_model(
    tmp_path, kfp_e2e
):
    from vrl import demo_data

    spans = tmp_path / "spans"
    demo_data.make_shapes(str(spans), per_class=12, seed=0, spans=2)
    data = tmp_path / "data"
    data.mkdir()
    os.rename(spans / "span-1", data / "span-1")
    serving = str(tmp_path / "models")
    package = kfp_e2e.compile(
        "image",
        "--pipeline-root",
        str(tmp_path / "root"),
        "--serving-base",
        serving,
        "--data",
        str(data),
        "--epochs",
        "1",
        "--no-sanity-checks",
        "--image-size",
        "16",
        "--min-accuracy",
        "0",
        "--no-halt-on-anomalies",
        "--beam-arg=--direct_running_mode=in_memory",
        "--beam-arg=--direct_num_workers=1",
    )
    spec, _ = kfp_local.load(package)
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["ImageExampleGen"]["cachingOptions"] == {"enableCache": False}
    trainer_label = spec["components"][tasks["Trainer"]["componentRef"]["name"]]["executorLabel"]
    resources = spec["deploymentSpec"]["executors"][trainer_label]["container"]["resources"]
    assert resources["cpuRequest"] > 0 and resources["memoryRequest"] > 0

    first = kfp_e2e.run(package, "run-1")
    assert _examples_span(kfp_e2e, first) == 1
    assert kfp_e2e.meta(first, "ServedBaseline", "model")["served_present"] == 0
    assert kfp_e2e.meta(first, "Pusher", "pushed_model")["pushed"] == 1
    model_dir = os.path.join(serving, "image_classifier")
    (v1,) = complete_versions(model_dir)

    # New data arrives as a new span; the next scheduled run picks it up and
    # compares its model with the one in production.
    os.rename(spans / "span-2", data / "span-2")
    second = kfp_e2e.run(package, "run-2", params={"max_accuracy_drop": 1.0})
    assert _examples_span(kfp_e2e, second) == 2
    baseline = kfp_e2e.meta(second, "ServedBaseline", "model")
    assert baseline["served_present"] == 1 and baseline["served_version"] == v1
    evaluation = second["Evaluator"].outputs["evaluation"][0]["uri"]
    assert "sparse_categorical_accuracy" in _diff_metrics(evaluation)  # compared with v1
    assert kfp_e2e.meta(second, "Evaluator", "blessing")["blessed"] == 1
    assert complete_versions(model_dir)[0] == v1 and len(complete_versions(model_dir)) == 2
