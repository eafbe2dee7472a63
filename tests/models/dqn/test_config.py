"""DqnConfig: JSON round trip, validation, fingerprints, presets."""

import pytest

from models.dqn.config import PRESETS, DqnConfig, preset


def test_config_round_trips_through_json():
    config = DqnConfig(hidden_units=(64, 32), n_step=3, double_dqn=False)
    assert DqnConfig.from_json(config.to_json()) == config


def test_empty_json_gives_the_default_config():
    assert DqnConfig.from_json("") == DqnConfig()


def test_unknown_field_is_named_in_the_error():
    with pytest.raises(ValueError, match="learning_rat"):
        DqnConfig.from_json('{"learning_rat": 0.1}')


def test_invalid_epsilon_range_is_rejected():
    with pytest.raises(ValueError, match="epsilon"):
        DqnConfig(epsilon_start=0.1, epsilon_end=0.5)


def test_fingerprint_is_stable_and_changes_with_the_config():
    assert DqnConfig().fingerprint() == DqnConfig().fingerprint()
    assert DqnConfig().fingerprint() != DqnConfig(learning_rate=1e-3).fingerprint()


def test_presets_cover_classic_control_and_default_is_cartpole():
    assert {"CartPole-v1", "Acrobot-v1", "MountainCar-v0"} <= set(PRESETS)
    assert preset("CartPole-v1") == DqnConfig()
    assert preset("LunarLander-v3") == DqnConfig()
