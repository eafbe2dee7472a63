"""DqnTrainer executor: unpack, call models.dqn.train, write the Model artifact."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.dqn_trainer import constants, ops
from components.outputs import ensure_output_dirs
from contracts import files
from models.dqn.config import DqnConfig


class Executor(base_executor.BaseExecutor):
    """Trains the policy and exports it to `<model uri>/Format-Serving/`."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ensure_output_dirs(output_dict)
        # Imported here: TF-Agents is heavy and only the executor needs it.
        from models.dqn.train import train

        self._log_startup(input_dict, output_dict, exec_properties)
        env_id = exec_properties[constants.ENV_ID_KEY]
        steps = int(exec_properties[constants.NUM_ENV_STEPS_KEY])
        seed = int(exec_properties[constants.SEED_KEY])
        if steps <= 0:
            raise ValueError(f"DqnTrainer.{constants.NUM_ENV_STEPS_KEY} must be > 0, got {steps}")
        config = DqnConfig.from_json(exec_properties[constants.CONFIG_JSON_KEY])
        model = artifact_utils.get_single_instance(output_dict[constants.MODEL_KEY])
        model_run = artifact_utils.get_single_instance(output_dict[constants.MODEL_RUN_KEY])
        base = exec_properties.get(constants.CHECKPOINT_BASE_KEY) or os.path.join(model.uri, "run")
        run_dir = ops.checkpoint_dir(base, env_id, seed, config)
        logging.info(
            "DqnTrainer: %s, %d env steps, seed %d, checkpoints in %s", env_id, steps, seed, run_dir
        )
        ops.prepare_run_dir(run_dir, bool(exec_properties.get(constants.FRESH_KEY)))

        result = train(
            env_id,
            config,
            seed,
            steps,
            run_dir,
            export_dir=path_utils.serving_model_dir(model.uri),
            log_dir=model_run.uri,
        )
        ops.write_policy_warmup(path_utils.serving_model_dir(model.uri), env_id, seed)
        with fileio.open(os.path.join(model.uri, files.EVAL_HISTORY_FILE), "w") as f:
            json.dump(result.history, f, indent=1)
        summary = dataclasses.asdict(result)
        summary.pop("history")
        summary.update(env_id=env_id, seed=seed, config=json.loads(config.to_json()))
        with fileio.open(os.path.join(model.uri, files.TRAINING_SUMMARY_FILE), "w") as f:
            json.dump(summary, f, indent=1)
        model.set_string_custom_property("env_id", env_id)
        model.set_int_custom_property("env_steps", result.env_steps)
        model.set_float_custom_property("best_eval_mean_return", result.best_mean_return)
        model.set_int_custom_property("best_eval_step", result.best_step)
        model.set_int_custom_property("gradient_updates", result.best_train_steps)
        logging.info(
            "DqnTrainer: best eval return %.1f at step %d; %.1fs training (%.0f steps/s)",
            result.best_mean_return,
            result.best_step,
            result.train_seconds,
            result.steps_per_second,
        )
