"""GatedEvaluator: TFX's Evaluator with per-run accuracy thresholds and a
baseline that may be absent.

Same inputs, outputs and TFMA executor as `tfx.components.Evaluator`; two
extra parameters (`min_accuracy`, `max_accuracy_drop`) replace the bounds of
every thresholded metric in the eval config, so a Kubeflow run can set them as
runtime parameters. An empty ServedBaseline (nothing served yet) is treated as
no baseline, as TFX does when a Resolver finds nothing.

Per-class metric specs (an empty `binarize`) get one class id per entry of the
examples' label vocabulary, and top-k accuracies with k >= the number of
classes are dropped. A model exported with a TFLite copy is blessed only when
that copy's eval accuracy (measured by the Trainer against the SavedModel's)
is at most `tflite_max_drop` lower; the verdict is written to
`tflite_gate.json` in the evaluation artifact.
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator.component import Evaluator
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from components.gated_evaluator.executor import (
    MAX_ACCURACY_DROP_KEY,
    MIN_ACCURACY_KEY,
    TFLITE_MAX_DROP_KEY,
    Executor,
)


class GatedEvaluatorSpec(standard_component_specs.EvaluatorSpec):
    """EvaluatorSpec plus the threshold parameters."""

    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        MIN_ACCURACY_KEY: ExecutionParameter(type=float),
        MAX_ACCURACY_DROP_KEY: ExecutionParameter(type=float),
        TFLITE_MAX_DROP_KEY: ExecutionParameter(type=float),
    }


class GatedEvaluator(Evaluator):
    """TFMA evaluation gated on accuracy against thresholds and the served model."""

    SPEC_CLASS = GatedEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        baseline_model: types.BaseChannel,
        eval_config: tfma.EvalConfig,
        min_accuracy: float | data_types.RuntimeParameter,
        max_accuracy_drop: float | data_types.RuntimeParameter,
        tflite_max_drop: float | data_types.RuntimeParameter,
    ):
        """Args: examples, model, baseline_model (a ServedBaseline output),
        eval_config (its thresholded metrics get the two bounds below),
        min_accuracy (value threshold), max_accuracy_drop (change threshold),
        tflite_max_drop (largest eval-accuracy loss of a TFLite export)."""
        spec = GatedEvaluatorSpec(
            examples=examples,
            model=model,
            baseline_model=baseline_model,
            eval_config=eval_config,
            fairness_indicator_thresholds=json_utils.dumps(None),
            example_splits=json_utils.dumps(None),
            min_accuracy=min_accuracy,
            max_accuracy_drop=max_accuracy_drop,
            tflite_max_drop=tflite_max_drop,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        # Evaluator.__init__ builds its own spec class; the base takes ours.
        base_component.BaseComponent.__init__(self, spec=spec)
