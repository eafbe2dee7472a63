"""Policy SavedModel export: TF-Agents' signatures plus a plain `serving_default`."""

from __future__ import annotations

import tensorflow as tf
from tf_agents.networks import network
from tf_agents.policies import greedy_policy, policy_saver, q_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

# Serving contract of the plain signature (see DESIGN.md, "Policy signatures").
from contracts.features import ACTION_KEY, OBSERVATION_KEY, Q_VALUES_KEY, SERVING_SIGNATURE


def greedy_q_policy(
    time_step_spec: ts.TimeStep,
    action_spec: tensor_spec.BoundedTensorSpec,
    q_net: network.Network,
) -> greedy_policy.GreedyPolicy:
    """The greedy (argmax-Q) policy over `q_net`."""
    return greedy_policy.GreedyPolicy(
        q_policy.QPolicy(time_step_spec, action_spec, q_network=q_net)
    )


def export_policy(
    q_net: network.Network,
    time_step_spec: ts.TimeStep,
    action_spec: tensor_spec.BoundedTensorSpec,
    export_dir: str,
    train_step: tf.Variable | None = None,
) -> None:
    """Saves the greedy policy of `q_net` as a SavedModel in `export_dir`.

    Signatures: TF-Agents' `action`, `get_initial_state`, `get_train_step`,
    `get_metadata` (PolicySaver), and `serving_default`, which takes only
    `observation` (float32 [batch, obs_dim] vectors, or uint8 [batch, H, W, C]
    stacked frames for pixel policies) and returns `action` [batch] and
    `q_values` [batch, num_actions].
    """
    policy = greedy_q_policy(time_step_spec, action_spec, q_net)
    saver = policy_saver.PolicySaver(policy, batch_size=None, train_step=train_step)
    obs_shape = [None, *time_step_spec.observation.shape.as_list()]

    obs_dtype = time_step_spec.observation.dtype

    # autograph=False: converting the Q-network's call cost ~13 s per export
    # (the body has no Python control flow to convert).
    @tf.function(
        input_signature=[tf.TensorSpec(obs_shape, obs_dtype, name=OBSERVATION_KEY)],
        autograph=False,
    )
    def serve(observation: tf.Tensor) -> dict[str, tf.Tensor]:
        q_values, _ = q_net(observation, training=False)
        actions = tf.argmax(q_values, axis=-1, output_type=action_spec.dtype)
        return {ACTION_KEY: actions, Q_VALUES_KEY: q_values}

    # Tracking the network keeps its variables in the SavedModel object graph.
    saver.policy.serving_q_network = q_net
    # The polymorphic `distribution` function would make loading the SavedModel
    # need TensorFlow Probability's type registrations; servers and clients
    # that import only TensorFlow use the signatures, which do not need it.
    del saver.policy.distribution
    saver.register_concrete_function("serving_observation", serve)
    saver.signatures[SERVING_SIGNATURE] = serve.get_concrete_function()
    saver.save(export_dir)
