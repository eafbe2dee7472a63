"""ServedBaseline executor: copy the version TF Serving serves, or mark absence."""

from __future__ import annotations

import json
import posixpath
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.outputs import ensure_output_dirs
from components.served_baseline import constants, ops
from contracts.files import BASELINE_FILE
from contracts.serving_base import PROVENANCE_FILE, PUSH_MARKER_FILE, complete_versions


def is_present(model: types.Artifact) -> bool:
    """Whether a ServedBaseline output holds a model (False on the first run)."""
    return fileio.exists(f"{path_utils.serving_model_dir(model.uri)}/saved_model.pb")


def _read_json(path: str) -> Any | None:
    if not fileio.exists(path):
        return None
    with fileio.open(path) as f:
        return json.load(f)


def describe(baseline_uri: str | None) -> dict[str, Any] | None:
    """The served version a ServedBaseline output holds: its version, metric and
    value at its push, and span (from the push marker and provenance it carries)."""
    if not baseline_uri:
        return None
    served = path_utils.serving_model_dir(baseline_uri)
    marker = _read_json(posixpath.join(served, PUSH_MARKER_FILE))
    prior = _read_json(posixpath.join(served, PROVENANCE_FILE))
    if marker is None and prior is None:
        return None
    version = (marker or {}).get("version", (prior or {}).get("version"))
    prior_eval = (prior or {}).get("evaluation") or {}
    return {
        "version": version,
        "metric": prior_eval.get("metric"),
        "value_at_its_push": prior_eval.get("value"),
        "span": ((prior or {}).get("data") or {}).get("span"),
    }


def record(baseline: types.Artifact, evaluation_uri: str) -> None:
    """Writes `describe(baseline)` into an evaluation artifact, so what reads the
    evaluation alone (the pusher, to which KFP's launcher delivers no baseline)
    knows which served version the candidate was compared with."""
    description = describe(baseline.uri)
    if description is not None:
        io_utils.write_string_file(
            posixpath.join(evaluation_uri, BASELINE_FILE), json.dumps(description, indent=2)
        )


class Executor(base_executor.BaseExecutor):
    """Copies `<model_dir>/<served version>/` where TFX looks for a serving model."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ensure_output_dirs(output_dict)
        model_dir = exec_properties[constants.MODEL_DIR_KEY].rstrip("/")
        label = exec_properties.get(constants.LABEL_KEY) or ""
        output = artifact_utils.get_single_instance(output_dict[constants.MODEL_KEY])
        config_path = ops.config_path_for(model_dir, constants.MODEL_CONFIG_FILE)
        served = ops.served_version(
            ops.read_model_config(config_path),
            config_path,
            model_dir.rsplit("/", 1)[-1],
            complete_versions(model_dir),
            label,
        )
        output.set_string_custom_property(constants.WHY_PROPERTY, served.why)
        if served.version is None:
            logging.info("ServedBaseline: nothing served under %s (%s)", model_dir, served.why)
            output.set_int_custom_property(constants.PRESENT_PROPERTY, 0)
            return
        source = f"{model_dir}/{served.version}"
        # A copy, not a reference: the server may drop this version later, and
        # the evaluation must stay reproducible from the pipeline's artifacts.
        io_utils.copy_dir(source, path_utils.serving_model_dir(output.uri))
        output.set_int_custom_property(constants.PRESENT_PROPERTY, 1)
        output.set_int_custom_property(constants.VERSION_PROPERTY, served.version)
        output.set_string_custom_property(constants.PATH_PROPERTY, source)
        output.set_string_custom_property(constants.LABEL_PROPERTY, served.label)
        logging.info("ServedBaseline: baseline is %s (%s)", source, served.why)
