"""GatedEvaluator executor: apply the run's thresholds, size the per-class
metrics to the data's classes, drop an empty baseline, run TFX's own Evaluator
executor, then apply the one-class gate and the TFLite gate to its blessing.

A blessing that is refused says why in its `blessing_message` custom property
(TFX's name for it): every failed threshold with its slice and margin, or the
gate's reason. Kubeflow Pipelines shows custom properties as the artifact's
metadata, so the reason is on the run's page, not only in TFMA's files."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import tensorflow_model_analysis as tfma
from absl import logging
from tensorflow.python.autograph.core import ag_ctx
from tfx import types
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, path_utils, proto_utils

from components.gated_evaluator import ops
from components.outputs import ensure_output_dirs
from components.served_baseline.executor import is_present
from components.served_baseline.executor import record as record_baseline

MIN_ACCURACY_KEY = "min_accuracy"
MAX_ACCURACY_DROP_KEY = "max_accuracy_drop"
TFLITE_MAX_DROP_KEY = "tflite_max_drop"


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


@contextlib.contextmanager
def keras_metrics_unconverted() -> Iterator[None]:
    """AutoGraph off for what runs eagerly in this thread: TFMA updates the Keras
    metrics (accuracy, top-k) eagerly, and Keras converts their update_state with
    AutoGraph whenever the caller has not said otherwise: a quarter of the demo's
    Evaluator CPU seconds (bench/evaluator_time.py), for no graph. Same ops, same
    values; tf.functions and the
    model's signatures still trace as they ask. The in-memory DirectRunner runs
    the bundles in this thread; elsewhere the setting is simply not seen."""
    with ag_ctx.ControlStatusCtx(status=ag_ctx.Status.DISABLED):
        yield


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
        tflite_max_drop = float(props.pop(TFLITE_MAX_DROP_KEY))
        key = standard_component_specs.EVAL_CONFIG_KEY
        config = tfma.EvalConfig()
        proto_utils.json_to_proto(props[key], config)
        config = apply_thresholds(config, min_accuracy, max_drop)
        examples = input_dict.get(standard_component_specs.EXAMPLES_KEY) or []
        if examples:
            config = ops.size_to_classes(config, ops.count_classes(examples[0].uri))
        props[key] = proto_utils.proto_to_json(config)
        inputs = dict(input_dict)
        baseline = inputs.get(standard_component_specs.BASELINE_MODEL_KEY)
        if baseline and not is_present(baseline[0]):
            logging.info("GatedEvaluator: no model served yet; evaluating without a baseline")
            inputs.pop(standard_component_specs.BASELINE_MODEL_KEY)
        with keras_metrics_unconverted():
            super().Do(inputs, output_dict, props)
        if baseline and standard_component_specs.BASELINE_MODEL_KEY in inputs:
            evaluation = output_dict[standard_component_specs.EVALUATION_KEY][0]
            record_baseline(baseline[0], evaluation.uri)
        self._explain(output_dict)
        self._gates(input_dict, output_dict, tflite_max_drop)

    @staticmethod
    def _explain(output_dict: dict[str, list[types.Artifact]]) -> None:
        """TFMA's failed thresholds as the message of a blessing TFMA refused."""
        if not output_dict.get(standard_component_specs.BLESSING_KEY):
            return
        blessing = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.BLESSING_KEY]
        )
        if blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY):
            return
        evaluation = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EVALUATION_KEY]
        )
        failures = ops.tfma_failures(evaluation.uri)
        if failures:
            message = "; ".join(failures)
            blessing.set_string_custom_property(
                constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY, message
            )
            logging.warning("GatedEvaluator: not blessed: %s", message)

    def _gates(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        tflite_max_drop: float,
    ) -> None:
        """The one-class gate (TFMA's confusion matrix) and the TFLite gate (the
        Trainer measured the TFLite copy against the SavedModel) after TFMA's."""
        examples = input_dict.get(standard_component_specs.EXAMPLES_KEY) or []
        models = input_dict.get(standard_component_specs.MODEL_KEY) or []
        if not (examples or models):
            return
        evaluation = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EVALUATION_KEY]
        )
        blessing = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.BLESSING_KEY]
        )
        if examples:
            verdict = ops.class_gate(
                ops.predicted_class_counts(evaluation.uri), ops.label_names(examples[0].uri)
            )
            self._apply_gate(verdict, evaluation.uri, ops.CLASS_GATE_FILE, blessing)
        if models:
            verdict = ops.tflite_gate(path_utils.serving_model_dir(models[0].uri), tflite_max_drop)
            self._apply_gate(verdict, evaluation.uri, ops.TFLITE_GATE_FILE, blessing)

    @staticmethod
    def _apply_gate(
        verdict: dict[str, Any] | None,
        evaluation_uri: str,
        file_name: str,
        blessing: types.Artifact,
    ) -> None:
        """Records a gate's verdict in the evaluation and withdraws TFMA's blessing
        when the gate failed (a verdict of None: the gate did not apply)."""
        if verdict is None:
            return
        ops.write_gate(evaluation_uri, verdict, file_name)
        logging.info("GatedEvaluator: %s %s", file_name, verdict)
        if verdict["passed"] or not blessing.get_int_custom_property(
            constants.ARTIFACT_PROPERTY_BLESSED_KEY
        ):
            return
        blessed_file = f"{blessing.uri}/{constants.BLESSED_FILE_NAME}"
        if fileio.exists(blessed_file):
            fileio.remove(blessed_file)
        io_utils.write_string_file(f"{blessing.uri}/{constants.NOT_BLESSED_FILE_NAME}", "")
        blessing.set_int_custom_property(
            constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.NOT_BLESSED_VALUE
        )
        blessing.set_string_custom_property(
            constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY, verdict["reason"]
        )
        logging.warning("GatedEvaluator: not blessed: %s", verdict["reason"])
