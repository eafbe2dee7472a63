"""BulkInferenceModel executor: unpack, check the input is present, wrap (ops)."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.bulk_inference_model import ops
from components.outputs import ensure_output_dirs
from components.served_baseline.executor import is_present

MODEL_KEY = "model"
"""The input (ServedBaseline's copy of the served version)."""
OUTPUT_KEY = "inference_model"


class Executor(base_executor.BaseExecutor):
    """Writes the wrapped SavedModel where BulkInferrer looks for a serving model."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ensure_output_dirs(output_dict)
        served = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        if not is_present(served):
            raise ValueError(f"{served.uri}: no model is served, nothing to score with")
        output = artifact_utils.get_single_instance(output_dict[OUTPUT_KEY])
        source = path_utils.serving_model_dir(served.uri)
        ops.wrap_for_bulk_inference(source, path_utils.serving_model_dir(output.uri))
        logging.info("BulkInferenceModel: %s wrapped for BulkInferrer", source)
