"""A real TF-Agents PolicySaver export is served: its `action` signature and
extra signatures work, even in a server process that never imported TF-Agents
(the export references tfp TypeSpecs, registered on demand)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from serving.client import GrpcClient


@pytest.fixture(scope="module")
def policy_base(tmp_path_factory, helpers) -> str:
    import tensorflow as tf
    from tf_agents.agents.dqn import dqn_agent
    from tf_agents.networks import q_network
    from tf_agents.policies import policy_saver
    from tf_agents.specs import tensor_spec
    from tf_agents.trajectories import time_step

    obs_spec = tensor_spec.BoundedTensorSpec((4,), tf.float32, -10, 10, name="observation")
    action_spec = tensor_spec.BoundedTensorSpec((), tf.int64, 0, 1, name="action")
    network = q_network.QNetwork(obs_spec, action_spec, fc_layer_params=(8,))
    agent = dqn_agent.DqnAgent(
        time_step.time_step_spec(obs_spec),
        action_spec,
        q_network=network,
        optimizer=tf.compat.v1.train.AdamOptimizer(),
    )
    agent.initialize()
    root = tmp_path_factory.mktemp("policy_saver")
    export = str(root / "export")
    policy_saver.PolicySaver(agent.policy, batch_size=None).save(export)
    base = str(root / "base")
    helpers.push(export, os.path.join(base, "dqn"), 1)
    return base


@pytest.mark.slow
def test_policy_saver_export_served_from_fresh_process(policy_base, vrl_serve):
    server = vrl_serve(["--model-base", policy_base, "--grpc-port", "0", "--rest-port", "0"])
    try:
        assert server.line.startswith("serving {'dqn': [1]}"), server.line
        with GrpcClient(server.grpc_target) as client:
            out = client.predict(
                "dqn",
                {
                    "0/step_type": np.zeros(3, np.int32),
                    "0/reward": np.zeros(3, np.float32),
                    "0/discount": np.ones(3, np.float32),
                    "0/observation": np.zeros((3, 4), np.float32),
                },
                signature_name="action",
            )
            assert out["action"].shape == (3,) and set(out["action"].tolist()) <= {0, 1}
            step = client.predict("dqn", {}, signature_name="get_train_step")
            assert step["int64"].shape == ()
            assert "action" in client.metadata("dqn").signature_def
    finally:
        server.stop()
