"""The bounds a model was blessed under, read from TFMA's own eval_config.json, and
`vrl status` where nothing was pushed yet."""

import json

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

from components.atomic_pusher.provenance import (
    policy_thresholds,
    summary_line,
    tfma_thresholds,
    thresholds_text,
)
from components.gated_evaluator.executor import apply_thresholds
from pipeline.image_pipeline import create_eval_config
from vrl.cli import main


def _eval_run(min_accuracy: float, max_drop: float) -> dict:
    """The EvalRun JSON TFMA writes beside its results, for the pipeline's own config
    with the GatedEvaluator's run-time bounds applied."""
    config = apply_thresholds(create_eval_config(0.9, 0.01), min_accuracy, max_drop)
    run = tfma.proto.config_pb2.EvalRun(eval_config=config, version=tfma.__version__)
    return json.loads(json_format.MessageToJson(run))


def test_thresholds_are_the_run_time_bounds_and_name_every_slice_they_apply_to():
    thresholds = tfma_thresholds(_eval_run(0.05, 0.2))
    assert thresholds == {
        "min_accuracy": 0.05,
        "max_accuracy_drop": 0.2,
        "slices": ["overall", "each label_name"],
    }
    text = thresholds_text(thresholds)
    assert text == "min accuracy 0.05, max accuracy drop 0.2 (overall and each label_name)"


def test_the_help_of_min_accuracy_says_what_the_evaluation_applies_it_to(capsys):
    assert "each label_name" in tfma_thresholds(_eval_run(0.9, 0.01))["slices"]
    with pytest.raises(SystemExit):
        main(["run", "image", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--min-accuracy", "--max-accuracy-drop"):
        assert "for each class on its own" in text.split(f"{flag} ")[-1].split("--")[0]


def test_a_push_at_a_low_bound_does_not_read_like_one_at_a_high_bound():
    def line(min_accuracy):
        evaluation = {"metric": "accuracy", "value": 0.3, "blessed": True}
        evaluation["thresholds"] = tfma_thresholds(_eval_run(min_accuracy, 0.01))
        return summary_line({"evaluation": evaluation})

    assert "blessed under min accuracy 0.05" in line(0.05)
    assert "blessed under min accuracy 0.9" in line(0.9)
    assert tfma_thresholds(None) == {} and thresholds_text({}) == ""


def test_policy_bounds_name_the_threshold_the_random_policy_and_the_served_one():
    report = {"threshold": 195.0, "max_regression": 0.1, "reason": "..."}
    assert policy_thresholds(report) == {"min_mean_return": 195.0}
    report.update(random_mean_return=21.5, baseline_mean_return=180.0)
    assert policy_thresholds(report) == {
        "min_mean_return": 195.0,
        "above_random_mean_return": 21.5,
        "max_regression_vs_served": 0.1,
    }
    text = thresholds_text(policy_thresholds(report))
    assert (
        text == "min mean return 195, above random mean return 21.5, max regression vs served 0.1"
    )


def test_status_of_a_home_with_no_run_yet_says_so_and_exits_zero(tmp_path, capsys):
    assert main(["status", "--home", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path}/serving: no models pushed yet" in out
    assert "no pipeline runs either" in out
