"""GatedEvaluator: per-run thresholds land in the eval config; an empty
ServedBaseline output is dropped before TFX's Evaluator runs."""

import pytest
import tensorflow_model_analysis as tfma
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components.gated_evaluator import executor
from pipeline.image_pipeline import create_eval_config


def test_run_thresholds_replace_the_compiled_ones():
    config = executor.apply_thresholds(create_eval_config(0.9, 0.01), 0.75, 0.2)
    (metric,) = [m for m in config.metrics_specs[0].metrics if m.HasField("threshold")]
    assert metric.threshold.value_threshold.lower_bound.value == 0.75
    assert metric.threshold.change_threshold.absolute.value == pytest.approx(-0.2)


@pytest.mark.parametrize("min_accuracy, drop", [(1.5, 0.0), (-0.1, 0.0), (0.5, -0.01)])
def test_out_of_range_thresholds_are_refused(min_accuracy, drop):
    with pytest.raises(ValueError, match="min_accuracy must be in"):
        executor.apply_thresholds(create_eval_config(0.9, 0.01), min_accuracy, drop)


def test_empty_baseline_is_dropped_and_thresholds_reach_tfx(monkeypatch, tmp_path):
    seen = {}

    def fake_do(self, input_dict, output_dict, exec_properties):
        seen["inputs"] = set(input_dict)
        cfg = tfma.EvalConfig()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.EVAL_CONFIG_KEY], cfg)
        seen["config"] = cfg
        seen["props"] = set(exec_properties)

    monkeypatch.setattr(executor.tfx_evaluator.Executor, "Do", fake_do)
    empty = standard_artifacts.Model()
    empty.uri = str(tmp_path / "baseline")  # ServedBaseline wrote nothing: first run
    props = {
        standard_component_specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(
            create_eval_config(0.9, 0.01)
        ),
        executor.MIN_ACCURACY_KEY: 0.6,
        executor.MAX_ACCURACY_DROP_KEY: 0.05,
        executor.TFLITE_MAX_DROP_KEY: 0.02,
    }
    executor.Executor().Do(
        {"examples": [], "model": [], standard_component_specs.BASELINE_MODEL_KEY: [empty]},
        {},
        props,
    )
    assert standard_component_specs.BASELINE_MODEL_KEY not in seen["inputs"]
    assert executor.MIN_ACCURACY_KEY not in seen["props"]
    (metric,) = [m for m in seen["config"].metrics_specs[0].metrics if m.HasField("threshold")]
    assert metric.threshold.value_threshold.lower_bound.value == 0.6


def test_keras_metrics_update_without_autograph_and_give_the_same_values():
    import numpy as np
    import tensorflow as tf
    import tf_keras

    labels = np.array([0, 1, 2, 2])  # the last is not in its top 2
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    converted = tf_keras.metrics.SparseTopKCategoricalAccuracy(k=2)
    converted.update_state(labels, probs)
    assert tf.__internal__.autograph.control_status_ctx().status.name != "DISABLED"
    with executor.keras_metrics_unconverted():
        assert tf.__internal__.autograph.control_status_ctx().status.name == "DISABLED"
        unconverted = tf_keras.metrics.SparseTopKCategoricalAccuracy(k=2)
        unconverted.update_state(labels, probs)
    assert unconverted.result().numpy() == converted.result().numpy() == np.float32(0.75)
