"""GatedEvaluator executor: apply the run's thresholds, drop an empty baseline,
then run TFX's own Evaluator executor."""

from __future__ import annotations

from typing import Any

import tensorflow_model_analysis as tfma
from absl import logging
from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.outputs import ensure_output_dirs
from components.served_baseline.executor import is_present

MIN_ACCURACY_KEY = "min_accuracy"
MAX_ACCURACY_DROP_KEY = "max_accuracy_drop"


def apply_thresholds(
    eval_config: tfma.EvalConfig, min_accuracy: float, max_accuracy_drop: float
) -> tfma.EvalConfig:
    """A copy of `eval_config` whose thresholded metrics get these bounds
    (value: at least `min_accuracy`; change: at most `max_accuracy_drop` worse)."""
    if not 0.0 <= min_accuracy <= 1.0 or max_accuracy_drop < 0.0:
        raise ValueError(
            f"min_accuracy must be in [0, 1] and max_accuracy_drop >= 0, got "
            f"{min_accuracy} and {max_accuracy_drop}"
        )
    config = tfma.EvalConfig()
    config.CopyFrom(eval_config)
    for metrics_spec in config.metrics_specs:
        for metric in metrics_spec.metrics:
            if not metric.HasField("threshold"):
                continue
            threshold = metric.threshold
            if threshold.HasField("value_threshold"):
                threshold.value_threshold.lower_bound.value = min_accuracy
            if threshold.HasField("change_threshold"):
                threshold.change_threshold.absolute.value = -max_accuracy_drop
    return config


class Executor(tfx_evaluator.Executor):
    """TFX's Evaluator executor with run-time thresholds and an optional baseline."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ensure_output_dirs(output_dict)
        props = dict(exec_properties)
        min_accuracy = float(props.pop(MIN_ACCURACY_KEY))
        max_drop = float(props.pop(MAX_ACCURACY_DROP_KEY))
        key = standard_component_specs.EVAL_CONFIG_KEY
        config = tfma.EvalConfig()
        proto_utils.json_to_proto(props[key], config)
        props[key] = proto_utils.proto_to_json(apply_thresholds(config, min_accuracy, max_drop))
        inputs = dict(input_dict)
        baseline = inputs.get(standard_component_specs.BASELINE_MODEL_KEY)
        if baseline and not is_present(baseline[0]):
            logging.info("GatedEvaluator: no model served yet; evaluating without a baseline")
            inputs.pop(standard_component_specs.BASELINE_MODEL_KEY)
        super().Do(inputs, output_dict, props)
