"""Pusher executor that pushes atomically (stage, then rename).

TFX's stock Pusher copies file by file into the final version folder, so a
server polling the base path can observe a partially written version. This
executor keeps the stock blessing check, metadata and archiving, and replaces
only the copy into the serving base, and writes the model's provenance
(`assets.extra/vrl_provenance.json`) into the staged copy from its inputs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.atomic_pusher import constants, gather, ops, provenance
from components.outputs import ensure_output_dirs
from contracts import files, serving_base


class Executor(tfx_pusher_executor.Executor):
    """Atomic filesystem push to `<base_directory>/<version>/`."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ensure_output_dirs(output_dict)
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            logging.info("Model not blessed; nothing pushed.")
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        if destination.WhichOneof("destination") != "filesystem":
            raise ValueError(
                "AtomicPusher supports push_destination.filesystem only, got "
                f"{destination.WhichOneof('destination')!r}"
            )
        model_dir = destination.filesystem.base_directory
        serving_path = ops.latest_identical_version(model_path, model_dir)
        already_served = serving_path is not None
        if already_served:
            logging.info("Model identical to the served %s; not pushed again.", serving_path)
        else:
            record = self._provenance(input_dict, exec_properties, model_dir, model_push.uri)
            serving_path = ops.atomic_push(model_path, model_dir, provenance=record)
            logging.info("Model pushed atomically to %s", serving_path)
        version = os.path.basename(serving_path)
        try:
            io_utils.copy_dir(model_path, model_push.uri)
        except Exception as e:
            if ops.is_out_of_space(e):
                done = f"pushed {serving_path}, but "
                needed = ops.tree_bytes(model_path)
                raise ops.space_error(model_push.uri, needed, done, "pipeline root") from None
            raise
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
        model_push.set_int_custom_property(
            serving_base.ALREADY_SERVED_PROPERTY, int(already_served)
        )

    def _provenance(
        self,
        input_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
        model_dir: str,
        pushed_model_uri: str,
    ) -> dict[str, Any]:
        """The provenance document, from the inputs' properties and files."""
        config = json.loads(
            exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null"
        )
        config = config or {}
        model = _single(input_dict, standard_component_specs.MODEL_KEY)
        blessing = _single(input_dict, standard_component_specs.MODEL_BLESSING_KEY)
        examples = _single(input_dict, constants.EXAMPLES_KEY)
        quarantine = _single(input_dict, constants.QUARANTINE_KEY)
        evaluation = _single(input_dict, constants.EVALUATION_KEY)
        model_run = _single(input_dict, constants.MODEL_RUN_KEY)
        blessing_props = gather.custom_properties(blessing) if blessing else {}
        kind = config.get(constants.KIND_CONFIG) or (
            "rl" if model and _is_policy(model) else "image"
        )

        data = None
        if examples is not None or quarantine is not None:
            ingest = (
                gather.read_json(f"{quarantine.uri.rstrip('/')}/{files.INGEST_REPORT_FILE}")
                if quarantine
                else None
            )
            data = provenance.data_section(
                gather.custom_properties(examples) if examples else None,
                ingest,
                gather.record_files_per_split(examples.uri) if examples else None,
            )
        evaluation_uri = evaluation.uri if evaluation else None
        baseline = gather.baseline(blessing_props.get("baseline_model"), evaluation_uri)
        if kind == "rl":
            trainer, train_metrics = gather.dqn_training(model.uri) if model else (None, None)
            evaluation_section = gather.policy_evaluation(evaluation_uri, blessing_props, baseline)
        else:
            trainer, train_metrics = gather.cnn_training(model_run.uri if model_run else None)
            evaluation_section = gather.tfma_evaluation(evaluation_uri, baseline)
        pipeline_info = self._context.pipeline_info if self._context else None
        return provenance.build(
            model_name=config.get(constants.MODEL_NAME_CONFIG) or os.path.basename(model_dir),
            version=0,  # set by atomic_push
            kind=kind,
            pipeline={
                "name": (pipeline_info.id if pipeline_info else "")
                or config.get(constants.PIPELINE_NAME_CONFIG),
                "run_id": self._context.pipeline_run_id if self._context else None,
                "pushed_model_uri": pushed_model_uri,
                "model_uri": model.uri if model else None,
            },
            data=data,
            trainer=trainer,
            metrics={"training": train_metrics} if train_metrics else None,
            evaluation=evaluation_section,
            code={**provenance.code_version(), "image": config.get(constants.IMAGE_CONFIG)},
        )


def _single(input_dict: dict[str, list[types.Artifact]], key: str) -> types.Artifact | None:
    artifacts = input_dict.get(key) or []
    return artifacts[0] if artifacts else None


def _is_policy(model: types.Artifact) -> bool:
    return bool(gather.read_json(f"{model.uri.rstrip('/')}/{files.TRAINING_SUMMARY_FILE}"))
