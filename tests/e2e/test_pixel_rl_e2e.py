"""DQN from pixels end to end: `vrl run rl` on MinAtar Breakout (a short
smoke run) pushes a policy, `vrl serve` serves it, and `vrl act --obs-file`
gets its action for a real uint8 observation over gRPC and REST."""

import os

import numpy as np
import pytest

from vrl.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ENV_ID = "MinAtar/Breakout-v1"
MODEL = "dqn_minatar_breakout_v1"
FREE_PORTS = ["--grpc-port", "0", "--rest-port", "0"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("home"))
    smoke = [
        "learning_starts=300",
        "train_freq=4",
        "gradient_steps=1",
        "replay_capacity=2000",
        "epsilon_decay_steps=1000",
        "eval_interval=1200",
        "eval_episodes=2",
        "max_episode_frames=500",
    ]
    argv = ["run", "rl", "--env", ENV_ID, "--home", home, "--steps", "1200"]
    argv += ["--eval-episodes", "3", *[a for d in smoke for a in ("--dqn", d)]]
    # MinAtar registers no reward threshold: the first policy is blessed and pushed
    # when it trained (225 updates) and beats a random policy on the same seeded
    # episodes (0.33 against 0 on this smoke run's three).
    assert main(argv) == 0
    return home


def _version(home):
    (version,) = os.listdir(os.path.join(home, "serving", MODEL))
    return int(version)


@pytest.fixture(scope="module")
def served(home, vrl_serve):
    """`vrl serve` on free ports over the run's serving base: (gRPC target, REST URL)."""
    server = vrl_serve(["--model-base", os.path.join(home, "serving")] + FREE_PORTS)
    try:
        assert server.line.startswith(f"serving {{'{MODEL}': [{_version(home)}]}}"), server.line
        yield server.grpc_target, server.rest_url
    finally:
        server.stop()


def test_pushed_pixel_policy_takes_uint8_stacked_frames(home):
    import tensorflow as tf

    policy = tf.saved_model.load(os.path.join(home, "serving", MODEL, str(_version(home))))
    (spec,) = policy.signatures["serving_default"].structured_input_signature[1].values()
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 10, 10, 4]


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_vrl_act_answers_for_an_observation_file(home, served, transport, tmp_path, capsys):
    from models.dqn.gym_envs import make_gym

    env = make_gym(ENV_ID)
    obs, _ = env.reset(seed=0)
    env.close()
    path = tmp_path / "obs.npy"
    np.save(path, obs)
    grpc_target, rest_url = served
    server = ["--server", grpc_target] if transport == "grpc" else ["--rest", "--server", rest_url]
    capsys.readouterr()
    assert main(["act", "--model", MODEL, *server, "--obs-file", str(path)]) == 0
    out = capsys.readouterr().out
    action = int(out.split("action: ")[1].split()[0])
    assert action in (0, 1, 2)
    q_values = [float(q) for q in out.split("q_values: ")[1].split(",")]
    assert len(q_values) == 3 and int(np.argmax(q_values)) == action


def test_vrl_act_refuses_a_file_that_is_not_an_array(tmp_path, capsys):
    path = tmp_path / "obs.npy"
    path.write_text("not numpy")
    assert main(["act", "--model", MODEL, "--obs-file", str(path)]) == 2
    assert "--obs-file" in capsys.readouterr().err
