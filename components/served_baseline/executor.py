"""ServedBaseline executor: copy the newest complete served version, or mark absence."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.atomic_pusher.ops import complete_versions
from components.outputs import ensure_output_dirs
from components.served_baseline import constants


def is_present(model: types.Artifact) -> bool:
    """Whether a ServedBaseline output holds a model (False on the first run)."""
    from tfx.dsl.io import fileio

    return fileio.exists(f"{path_utils.serving_model_dir(model.uri)}/saved_model.pb")


class Executor(base_executor.BaseExecutor):
    """Copies `<model_dir>/<newest complete version>/` where TFX looks for a serving model."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ensure_output_dirs(output_dict)
        model_dir = exec_properties[constants.MODEL_DIR_KEY].rstrip("/")
        output = artifact_utils.get_single_instance(output_dict[constants.MODEL_KEY])
        versions = complete_versions(model_dir)
        if not versions:
            logging.info("ServedBaseline: nothing served under %s yet; no baseline", model_dir)
            output.set_int_custom_property(constants.PRESENT_PROPERTY, 0)
            return
        source = f"{model_dir}/{versions[-1]}"
        # A copy, not a reference: the server may drop this version later, and
        # the evaluation must stay reproducible from the pipeline's artifacts.
        io_utils.copy_dir(source, path_utils.serving_model_dir(output.uri))
        output.set_int_custom_property(constants.PRESENT_PROPERTY, 1)
        output.set_int_custom_property(constants.VERSION_PROPERTY, versions[-1])
        output.set_string_custom_property(constants.PATH_PROPERTY, source)
        logging.info("ServedBaseline: baseline is %s", source)
