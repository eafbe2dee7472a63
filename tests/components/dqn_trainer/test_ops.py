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
