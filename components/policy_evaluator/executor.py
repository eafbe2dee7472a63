"""PolicyEvaluator executor: episodes -> report, plot, ModelBlessing."""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.outputs import ensure_output_dirs
from components.policy_evaluator import constants, ops
from components.served_baseline.executor import is_present
from contracts import files


class Executor(base_executor.BaseExecutor):
    """Evaluates the candidate (and baseline) policy and blesses or not."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ensure_output_dirs(output_dict)
        from models.dqn.envs import reward_threshold

        self._log_startup(input_dict, output_dict, exec_properties)
        env_id = exec_properties[constants.ENV_ID_KEY]
        episodes = int(exec_properties[constants.NUM_EPISODES_KEY])
        seed = int(exec_properties[constants.SEED_KEY])
        threshold = exec_properties.get(constants.THRESHOLD_KEY)
        if threshold is None:
            threshold = reward_threshold(env_id)
            if threshold is None:
                logging.info(
                    "PolicyEvaluator: %s registers no reward_threshold and none was set; "
                    "blessing against the served policy only",
                    env_id,
                )
        max_regression = float(exec_properties[constants.MAX_REGRESSION_KEY])
        protocol = {
            "epsilon": float(exec_properties.get(constants.EPSILON_KEY) or 0.0),
            "max_episode_frames": int(exec_properties.get(constants.MAX_EPISODE_FRAMES_KEY) or 0),
        }

        model = artifact_utils.get_single_instance(input_dict[constants.MODEL_KEY])
        returns = ops.evaluate_saved_policy(
            path_utils.serving_model_path(model.uri), env_id, episodes, seed, **protocol
        )
        baseline = None
        baseline_mean = None
        if input_dict.get(constants.BASELINE_MODEL_KEY):
            baseline = artifact_utils.get_single_instance(input_dict[constants.BASELINE_MODEL_KEY])
            if not is_present(baseline):
                logging.info("PolicyEvaluator: no policy served yet; no baseline")
                baseline = None
        if baseline is not None:
            baseline_env = baseline.get_string_custom_property("env_id")
            if baseline_env and baseline_env != env_id:
                # The metadata store is shared; a policy for another env is no baseline.
                logging.warning(
                    "PolicyEvaluator: ignoring baseline %s trained on %s, not %s",
                    baseline.uri,
                    baseline_env,
                    env_id,
                )
                baseline = None
        if baseline is not None:
            baseline_returns = ops.evaluate_saved_policy(
                path_utils.serving_model_path(baseline.uri), env_id, episodes, seed, **protocol
            )
            baseline_mean = float(baseline_returns.mean())
        decision = ops.decide_blessing(
            float(returns.mean()), threshold, baseline_mean, max_regression
        )
        logging.info("PolicyEvaluator: %s", decision.reason)

        evaluation = artifact_utils.get_single_instance(output_dict[constants.EVALUATION_KEY])
        report = {
            "env_id": env_id,
            "seed": seed,
            "returns": returns.tolist(),
            "mean_return": float(returns.mean()),
            "std_return": float(returns.std()),
            "threshold": None if threshold is None else float(threshold),
            **protocol,
            "max_regression": max_regression,
            "baseline_mean_return": baseline_mean,
            "blessed": decision.blessed,
            "reason": decision.reason,
        }
        ops.write_report(evaluation.uri, report)
        history_path = os.path.join(model.uri, files.EVAL_HISTORY_FILE)
        history = []
        if fileio.exists(history_path):
            with fileio.open(history_path) as f:
                history = json.load(f)
        else:
            logging.warning("PolicyEvaluator: no %s in %s", files.EVAL_HISTORY_FILE, model.uri)
        ops.plot_return_over_training(
            history,
            None if threshold is None else float(threshold),
            float(returns.mean()),
            os.path.join(evaluation.uri, files.RETURN_PLOT_FILE),
            title=f"{env_id}: evaluation return over training",
        )

        blessing = artifact_utils.get_single_instance(output_dict[constants.BLESSING_KEY])
        blessing.set_string_custom_property(constants.CURRENT_MODEL_PROPERTY, model.uri)
        blessing.set_int_custom_property(constants.CURRENT_MODEL_ID_PROPERTY, model.id)
        if baseline is not None:
            blessing.set_string_custom_property(constants.BASELINE_MODEL_PROPERTY, baseline.uri)
            blessing.set_int_custom_property(constants.BASELINE_MODEL_ID_PROPERTY, baseline.id)
        blessing.set_int_custom_property(constants.BLESSED_PROPERTY, int(decision.blessed))
        blessing.set_float_custom_property("mean_return", float(returns.mean()))
        blessing.set_float_custom_property("std_return", float(returns.std()))
        marker = constants.BLESSED_FILE if decision.blessed else constants.NOT_BLESSED_FILE
        with fileio.open(os.path.join(blessing.uri, marker), "w") as f:
            f.write(decision.reason + "\n")
