"""DqnTrainer: checkpoint folder keying and the component's interface."""

from components.dqn_trainer import constants
from components.dqn_trainer.ops import checkpoint_dir
from models.dqn.config import DqnConfig


def test_checkpoint_dir_is_deterministic_and_keyed_by_env_seed_and_config():
    a = checkpoint_dir("/base", "CartPole-v1", 0, DqnConfig())
    assert a == checkpoint_dir("/base", "CartPole-v1", 0, DqnConfig())
    assert a.startswith("/base/CartPole-v1-seed0-")
    assert a != checkpoint_dir("/base", "CartPole-v1", 1, DqnConfig())
    assert a != checkpoint_dir("/base", "CartPole-v1", 0, DqnConfig(learning_rate=1e-3))


def test_component_outputs_a_model_and_a_model_run():
    from components.dqn_trainer.component import DqnTrainer

    trainer = DqnTrainer(env_id="CartPole-v1", num_env_steps=100, config_json=DqnConfig().to_json())
    assert trainer.outputs[constants.MODEL_KEY].type_name == "Model"
    assert trainer.outputs[constants.MODEL_RUN_KEY].type_name == "ModelRun"
    assert trainer.exec_properties[constants.ENV_ID_KEY] == "CartPole-v1"


def test_policy_warmup_holds_real_start_observations(tmp_path):
    import numpy as np
    import tensorflow as tf

    from components.dqn_trainer.ops import write_policy_warmup
    from serving import warmup

    (tmp_path / "policy").mkdir()
    write_policy_warmup(str(tmp_path / "policy"), "CartPole-v1", seed=0)
    logs = warmup.read_warmup_logs(str(tmp_path / "policy"))
    batch = tf.make_ndarray(logs[-1].predict_log.request.inputs["observation"])
    assert batch.shape == (3, 4) and batch.dtype == np.float32
    assert np.all(np.abs(batch) <= 0.05)  # CartPole starts within +-0.05


def test_pixel_policy_warmup_sends_uint8_stacked_frames(tmp_path):
    import numpy as np
    import tensorflow as tf

    from components.dqn_trainer.ops import write_policy_warmup
    from serving import warmup

    (tmp_path / "policy").mkdir()
    write_policy_warmup(str(tmp_path / "policy"), "MinAtar/Breakout-v1", seed=0)
    logs = warmup.read_warmup_logs(str(tmp_path / "policy"))
    batch = tf.make_ndarray(logs[-1].predict_log.request.inputs["observation"])
    assert batch.shape == (3, 10, 10, 4) and batch.dtype == np.uint8


def _checkpoint_at(run_dir: str, step: int) -> None:
    import os

    import tensorflow as tf

    from models.dqn.run_state import CHECKPOINT_SUBDIR

    checkpoint = tf.train.Checkpoint(env_step=tf.Variable(step, dtype=tf.int64))
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(run_dir, CHECKPOINT_SUBDIR), 2)
    manager.save(checkpoint_number=step)


def test_continuing_a_previous_run_is_said_in_one_line(tmp_path, caplog):
    from components.dqn_trainer.ops import prepare_run_dir, previous_run_step

    run_dir = str(tmp_path / "CartPole-v1-seed0-abc")
    assert prepare_run_dir(run_dir, fresh=False) is None
    _checkpoint_at(run_dir, 5_000)
    assert prepare_run_dir(run_dir, fresh=False) == 5_000
    (line,) = [r.getMessage() for r in caplog.records if "continuing" in r.getMessage()]
    assert "from env step 5000" in line and "--fresh" in line and "\n" not in line
    assert previous_run_step(run_dir) == 5_000


def test_fresh_deletes_the_previous_checkpoints_and_starts_over(tmp_path):
    from components.dqn_trainer.ops import prepare_run_dir, previous_run_step

    run_dir = str(tmp_path / "run")
    _checkpoint_at(run_dir, 2_500)
    assert prepare_run_dir(run_dir, fresh=True) is None
    assert previous_run_step(run_dir) is None


def test_fresh_is_a_trainer_parameter():
    from components.dqn_trainer.component import DqnTrainer

    config_json = DqnConfig().to_json()
    trainer = DqnTrainer(
        env_id="CartPole-v1", num_env_steps=10, config_json=config_json, fresh=True
    )
    assert trainer.exec_properties[constants.FRESH_KEY] == 1
