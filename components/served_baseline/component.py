"""ServedBaseline: the model now in production, as a Model artifact.

The Evaluator and the PolicyEvaluator compare a candidate with this baseline:
the version TF Serving serves, by the model config beside the models
(`<serving_base>/models.config`): the label the operator names, else `stable`
when the model has labels, else the version policy's choice; without a config,
the newest fully pushed version (TF Serving's default policy). So a rollback
(`vrl rollback`) changes the baseline. Read through `tf.io.gfile` (local disk,
mounted volumes, gs://, s3://). It stands in
for TFX's latest-blessed-model Resolver, which open-source Kubeflow Pipelines
cannot run, so both orchestrators gate on the same thing. It reads state
outside the pipeline, so runners must never serve it from cache
(`pipeline.caching.UNCACHED_COMPONENTS`).
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.served_baseline import constants
from components.served_baseline.executor import Executor


class ServedBaselineSpec(types.ComponentSpec):
    """Parameters: the model's folder in the serving base and a version label; one Model output."""

    PARAMETERS = {
        constants.MODEL_DIR_KEY: ExecutionParameter(type=str),
        constants.LABEL_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {constants.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class ServedBaseline(base_component.BaseComponent):
    """Outputs a copy of the served version of a model (empty if none is served)."""

    SPEC_CLASS = ServedBaselineSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model_dir: str, label: str = ""):
        """Args: model_dir: `<serving_base>/<model_name>`, a path or URI; label: the
        version label of the model config that names production (empty: `stable`
        if the model has labels, else the version policy's choice)."""
        super().__init__(
            spec=ServedBaselineSpec(
                model_dir=model_dir,
                label=label,
                model=types.Channel(type=standard_artifacts.Model),
            )
        )
