"""Pusher executor that pushes atomically (stage, then rename).

TFX's stock Pusher copies file by file into the final version folder, so a
server polling the base path can observe a partially written version. This
executor keeps the stock blessing check, metadata and archiving, and replaces
only the copy into the serving base.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.atomic_pusher import ops
from components.outputs import ensure_output_dirs


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
        if serving_path:
            logging.info("Model identical to the served %s; not pushed again.", serving_path)
        else:
            serving_path = ops.atomic_push(model_path, model_dir)
            logging.info("Model pushed atomically to %s", serving_path)
        version = os.path.basename(serving_path)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
