"""BulkInferenceModel: the served model as TFX's BulkInferrer can run it.

Takes ServedBaseline's copy of the version in production and writes a Model
whose tf.Example signature calls that SavedModel's own, with string outputs of
shape [N] given a trailing axis (ops.py says why). Nothing is retrained or
re-exported: the scores are the served model's.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter

from components.bulk_inference_model.executor import MODEL_KEY, OUTPUT_KEY, Executor


class BulkInferenceModelSpec(types.ComponentSpec):
    """One Model in (the served copy), one Model out (the wrapper)."""

    PARAMETERS = {}
    INPUTS = {MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {OUTPUT_KEY: ChannelParameter(type=standard_artifacts.Model)}


class BulkInferenceModel(base_component.BaseComponent):
    """Wraps the served model's tf.Example signature for BulkInferrer."""

    SPEC_CLASS = BulkInferenceModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model: types.BaseChannel):
        """Args: model: ServedBaseline's `model` output."""
        super().__init__(
            spec=BulkInferenceModelSpec(
                model=model, inference_model=types.Channel(type=standard_artifacts.Model)
            )
        )
