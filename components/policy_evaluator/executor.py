"""PolicyEvaluator executor: unpack, evaluate (ops), write report, plot and ModelBlessing."""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components.outputs import ensure_output_dirs
from components.policy_evaluator import constants, ops
from components.policy_evaluator.report import write_evaluation, write_observation_statistics
from components.served_baseline.executor import is_present
from components.served_baseline.executor import record as record_baseline
from models.dqn.observation_features import ObservationRecorder


class Executor(base_executor.BaseExecutor):
    """Evaluates the candidate (against random and the baseline) and blesses or not."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ensure_output_dirs(output_dict)
        self._log_startup(input_dict, output_dict, exec_properties)
        protocol = ops.Protocol(
            env_id=exec_properties[constants.ENV_ID_KEY],
            episodes=int(exec_properties[constants.NUM_EPISODES_KEY]),
            seed=int(exec_properties[constants.SEED_KEY]),
            epsilon=float(exec_properties.get(constants.EPSILON_KEY) or 0.0),
            max_episode_frames=int(exec_properties.get(constants.MAX_EPISODE_FRAMES_KEY) or 0),
        )
        threshold = _threshold(exec_properties.get(constants.THRESHOLD_KEY), protocol.env_id)
        model = artifact_utils.get_single_instance(input_dict[constants.MODEL_KEY])
        baseline = _baseline(input_dict.get(constants.BASELINE_MODEL_KEY), protocol.env_id)
        recorder = ObservationRecorder()
        report = ops.evaluate(
            model.uri,
            baseline.uri if baseline else None,
            protocol,
            threshold,
            float(exec_properties[constants.MAX_REGRESSION_KEY]),
            recorder,
        )
        logging.info("PolicyEvaluator: %s", report["reason"])
        evaluation = artifact_utils.get_single_instance(output_dict[constants.EVALUATION_KEY])
        write_evaluation(evaluation.uri, report, model.uri)
        write_observation_statistics(evaluation.uri, recorder.columns())
        if baseline is not None:
            record_baseline(baseline, evaluation.uri)
        blessing = artifact_utils.get_single_instance(output_dict[constants.BLESSING_KEY])
        _write_blessing(blessing, model, baseline, report)


def _threshold(given: float | None, env_id: str) -> float | None:
    """The blessing threshold: the one given, else the env's registered one, else None."""
    from models.dqn.envs import reward_threshold

    if given is not None:
        return float(given)
    threshold = reward_threshold(env_id)
    if threshold is None:
        logging.info(
            "PolicyEvaluator: %s registers no reward_threshold and none was set; "
            "blessing against a random policy and the served policy",
            env_id,
        )
    return threshold


def _baseline(artifacts: list[types.Artifact] | None, env_id: str) -> types.Artifact | None:
    """The served policy to compare with, or None (nothing served, or another env's)."""
    if not artifacts:
        return None
    baseline = artifact_utils.get_single_instance(artifacts)
    if not is_present(baseline):
        logging.info("PolicyEvaluator: no policy served yet; no baseline")
        return None
    baseline_env = baseline.get_string_custom_property("env_id")
    if baseline_env and baseline_env != env_id:
        # The metadata store is shared; a policy for another env is no baseline.
        logging.warning(
            "PolicyEvaluator: ignoring baseline %s trained on %s, not %s",
            baseline.uri,
            baseline_env,
            env_id,
        )
        return None
    return baseline


def _write_blessing(
    blessing: types.Artifact,
    model: types.Artifact,
    baseline: types.Artifact | None,
    report: dict,
) -> None:
    """TFX Evaluator's blessing properties and marker file (the reason as its text)."""
    blessing.set_string_custom_property(constants.CURRENT_MODEL_PROPERTY, model.uri)
    blessing.set_int_custom_property(constants.CURRENT_MODEL_ID_PROPERTY, model.id)
    if baseline is not None:
        blessing.set_string_custom_property(constants.BASELINE_MODEL_PROPERTY, baseline.uri)
        blessing.set_int_custom_property(constants.BASELINE_MODEL_ID_PROPERTY, baseline.id)
    blessing.set_int_custom_property(constants.BLESSED_PROPERTY, int(report["blessed"]))
    blessing.set_float_custom_property("mean_return", report["mean_return"])
    blessing.set_float_custom_property("std_return", report["std_return"])
    blessing.set_float_custom_property("random_mean_return", report["random_mean_return"])
    blessing.set_string_custom_property(constants.REASON_PROPERTY, report["reason"])
    marker = constants.BLESSED_FILE if report["blessed"] else constants.NOT_BLESSED_FILE
    with fileio.open(os.path.join(blessing.uri, marker), "w") as f:
        f.write(report["reason"] + "\n")
