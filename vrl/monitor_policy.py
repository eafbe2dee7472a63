"""The policy side of `vrl monitor`: a served DQN policy's logged observations against
the observations its evaluation episodes showed it.

The reference is the TFDV statistics the PolicyEvaluator recorded in its
evaluation artifact (`observation_stats.pbtxt`), found through the version's
provenance (`evaluation.evaluation_uri`). The served side is every logged
Predict whose request holds an `observation` batch and whose response holds the
`action`s, turned into the same columns (models/dqn/observation_features.py).
"""

from __future__ import annotations

import os

import tensorflow as tf
import tensorflow_data_validation as tfdv

from components.atomic_pusher.provenance import read_provenance
from components.policy_evaluator.report import observation_statistics
from contracts.features import ACTION_KEY, OBSERVATION_KEY
from contracts.files import POLICY_OBSERVATION_STATS_FILE
from models.dqn.observation_features import concatenate, feature_columns

REFERENCE = "evaluation episodes"


def is_policy(version_dir: str) -> bool:
    """Whether the pushed version is a policy (its provenance says `kind: rl`)."""
    return (read_provenance(version_dir) or {}).get("kind") == "rl"


def _columns_of(entry) -> dict:
    if entry.WhichOneof("log_type") != "predict_log":
        raise ValueError(f"a {entry.WhichOneof('log_type')}, not a predict_log")
    inputs, outputs = entry.predict_log.request.inputs, entry.predict_log.response.outputs
    if OBSERVATION_KEY not in inputs or ACTION_KEY not in outputs:
        raise ValueError(f"no {OBSERVATION_KEY!r} input or {ACTION_KEY!r} output")
    observations = tf.make_ndarray(inputs[OBSERVATION_KEY])
    return feature_columns(observations, tf.make_ndarray(outputs[ACTION_KEY]))


def served_statistics(logs: list, version: int):
    """TFDV statistics of the logged observations and actions, and the count of
    records that are not policy Predicts (skipped).

    Raises ValueError when no record is one."""
    parts, unusable = [], 0
    for entry in logs:
        try:
            parts.append(_columns_of(entry))
        except ValueError:
            unusable += 1
    if not parts:
        raise ValueError(
            f"version {version}: none of its {len(logs)} logged records is a Predict with an "
            f"{OBSERVATION_KEY!r} input and {ACTION_KEY!r} output (the policy's plain signature)"
        )
    return observation_statistics(concatenate(parts)), unusable


def reference_statistics(version_dir: str):
    """TFDV statistics of the observations the version's evaluation episodes showed it.

    Raises ValueError when its provenance or the evaluation's statistics are missing."""
    evaluation = (read_provenance(version_dir) or {}).get("evaluation") or {}
    uri = evaluation.get("evaluation_uri")
    if not uri:
        raise ValueError(
            f"{version_dir}: no provenance naming its evaluation "
            "(assets.extra/vrl_provenance.json evaluation.evaluation_uri); push it with vrl run rl"
        )
    path = os.path.join(uri, POLICY_OBSERVATION_STATS_FILE)
    if not tf.io.gfile.exists(path):
        raise ValueError(
            f"{path}: no observation statistics (the policy was evaluated before the "
            "PolicyEvaluator recorded them); run vrl run rl again to push one that has them"
        )
    return tfdv.load_stats_text(path)
