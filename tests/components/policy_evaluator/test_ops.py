"""PolicyEvaluator's pure functions: blessing rule, random baseline, report, plot."""

import functools
import json

import numpy as np
import pytest

from components.policy_evaluator import ops
from components.policy_evaluator.report import plot_return_over_training, write_report
from contracts import files

TRAINED = ops.Training(gradient_updates=500, env_steps=5_000, learning_starts=1_000)
# A random CartPole policy scores about 22; these tests' policies are far above it.
decide_blessing = functools.partial(ops.decide_blessing, random_mean_return=-1e9, training=TRAINED)


def test_mean_at_or_above_threshold_without_baseline_is_blessed():
    assert decide_blessing(475.0, 475.0).blessed
    assert decide_blessing(500.0, 475.0).blessed


def test_mean_below_threshold_is_not_blessed_and_says_why():
    decision = decide_blessing(474.9, 475.0, baseline_mean_return=100.0)
    assert not decision.blessed
    assert "below the threshold" in decision.reason


def test_worse_than_baseline_by_more_than_the_margin_is_not_blessed():
    # Floor is 500 - 5% * 500 = 475; 480 clears the threshold but not 500 * 0.97.
    assert decide_blessing(480.0, 475.0, baseline_mean_return=500.0, max_regression=0.05).blessed
    decision = decide_blessing(480.0, 475.0, baseline_mean_return=500.0, max_regression=0.02)
    assert not decision.blessed
    assert "worse than the blessed baseline" in decision.reason


def test_margin_is_relative_to_the_baseline_magnitude_for_negative_returns():
    # Acrobot-style returns: baseline -80, 10% margin -> floor -88.
    assert decide_blessing(-85.0, -100.0, baseline_mean_return=-80.0, max_regression=0.1).blessed
    assert not decide_blessing(
        -90.0, -100.0, baseline_mean_return=-80.0, max_regression=0.1
    ).blessed


def test_report_files_hold_every_return_and_the_decision(tmp_path):
    report = {
        "env_id": "CartPole-v1",
        "seed": 3,
        "returns": [500.0, 480.0],
        "mean_return": 490.0,
        "std_return": 10.0,
        "threshold": 475.0,
        "max_regression": 0.05,
        "baseline_mean_return": None,
        "blessed": True,
        "reason": "ok",
    }
    write_report(str(tmp_path), report)
    assert json.loads((tmp_path / files.POLICY_REPORT_FILE).read_text())["returns"] == [
        500.0,
        480.0,
    ]
    text = (tmp_path / files.POLICY_REPORT_TEXT_FILE).read_text()
    assert "490.00 +- 10.00" in text and "blessed: True" in text


@pytest.mark.parametrize(
    "history", [[], [{"env_step": 2500, "mean_return": 100.0, "std_return": 5.0}]]
)
def test_return_over_training_plot_is_a_png(tmp_path, history):
    path = tmp_path / "plot.png"
    plot_return_over_training(history, 475.0, 480.0, str(path), "CartPole-v1")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_a_threshold_the_served_policy_and_random_decide():
    first = decide_blessing(3.0, None)
    assert first.blessed and "no served policy yet, no threshold" in first.reason
    assert decide_blessing(3.0, None, baseline_mean_return=3.1, max_regression=0.05).blessed
    worse = decide_blessing(2.0, None, baseline_mean_return=3.0, max_regression=0.05)
    assert not worse.blessed and "worse than the blessed baseline" in worse.reason


def test_report_without_a_threshold_says_the_served_policy_decides(tmp_path):
    report = {
        "env_id": "MinAtar/Breakout-v1",
        "seed": 1,
        "returns": [2.0, 4.0],
        "mean_return": 3.0,
        "std_return": 1.0,
        "threshold": None,
        "baseline_mean_return": None,
        "blessed": True,
        "reason": "first",
    }
    write_report(str(tmp_path), report)
    assert "threshold: none" in (tmp_path / files.POLICY_REPORT_TEXT_FILE).read_text()
    plot_return_over_training([], None, 3.0, str(tmp_path / "plot.png"), "MinAtar")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_a_policy_that_never_trained_is_not_blessed_even_with_nothing_served():
    untrained = ops.Training(gradient_updates=0, env_steps=2_000, learning_starts=80_000)
    decision = ops.decide_blessing(5.0, None, None, random_mean_return=-20.0, training=untrained)
    assert not decision.blessed
    assert decision.reason == (
        "the policy made no gradient update: the run's 2000 env steps ended before "
        "learning_starts (80000); train longer"
    )
    unrecorded = ops.Training(gradient_updates=ops.UNRECORDED)
    assert (
        "records no train step"
        in ops.decide_blessing(5.0, None, random_mean_return=0.0, training=unrecorded).reason
    )


@pytest.mark.parametrize("threshold", [None, 10.0])
def test_a_policy_that_does_not_beat_random_is_not_blessed(threshold):
    decision = ops.decide_blessing(20.0, threshold, None, random_mean_return=22.3, training=TRAINED)
    assert not decision.blessed
    assert decision.reason == (
        "mean return 20.00 does not beat a random policy's 22.30 on the same episodes"
    )
    tie = ops.decide_blessing(22.3, threshold, random_mean_return=22.3, training=TRAINED)
    assert not tie.blessed


def test_random_policy_returns_repeat_for_a_seed_and_sit_near_cartpoles_random_score():
    protocol = ops.Protocol("CartPole-v1", episodes=20, seed=7)
    first = ops.random_policy_returns(protocol)
    np.testing.assert_array_equal(first, ops.random_policy_returns(protocol))
    assert 10.0 < first.mean() < 40.0  # a random CartPole policy scores about 22
    assert len(set(first.tolist())) > 1
