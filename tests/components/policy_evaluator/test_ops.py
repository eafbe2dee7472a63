"""PolicyEvaluator's pure functions: blessing rule, report, plot."""

import json

import pytest

from components.policy_evaluator.ops import decide_blessing, plot_return_over_training, write_report
from contracts import files


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


def test_without_a_threshold_the_served_policy_alone_decides():
    first = decide_blessing(3.0, None)
    assert first.blessed and "no threshold and no served policy" in first.reason
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
