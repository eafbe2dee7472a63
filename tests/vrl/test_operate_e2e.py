"""Operating a real local run as an operator walks it (LocalDagRunner, SQLite ML
Metadata): before the first push (an RL run that is not blessed), `vrl status`,
`lineage` and `report RUN` explain why nothing was pushed; after a push, provenance
with the bounds it was blessed under, status, lineage and the report (rendered
offline in headless Chromium). The runs are the session's shared CartPole runs
(tests/conftest.py); the image run's provenance and report are checked on the image
end-to-end run (tests/e2e/test_image_pipeline_e2e.py)."""

import json
import os

import pytest

from components.atomic_pusher.provenance import read_provenance
from vrl.cli import main
from vrl.report import write_beside_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "dqn_cartpole_v1"


@pytest.fixture(scope="module")
def homes(cartpole_homes):
    """(the home before any push, the home after one): the session's shared CartPole
    runs (tests/conftest.py), one not blessed under threshold 100000, then one blessed
    and pushed under threshold 0."""
    return cartpole_homes


@pytest.fixture(scope="module")
def home(homes):
    return homes[1]


def _version(home):
    (version,) = sorted(os.listdir(os.path.join(home, "serving", MODEL)))
    return int(version)


def test_policy_push_carries_complete_provenance(home):
    version = _version(home)
    record = read_provenance(os.path.join(home, "serving", MODEL, str(version)))
    assert record["version"] == version and record["kind"] == "rl"
    assert record["pipeline"]["name"] == "vrl-rl-cartpole-v1" and record["pipeline"]["run_id"]
    assert record["trainer"]["env_id"] == "CartPole-v1" and "learning_rate" in record["trainer"]
    assert record["metrics"]["training"]["env_steps"] > 0
    evaluation = record["evaluation"]
    assert evaluation["blessed"] is True and evaluation["episodes"] == 5
    assert evaluation["value"] is not None and evaluation["reason"]
    assert evaluation["thresholds"]["min_mean_return"] == 0.0
    assert record["code"]["package_version"]


def test_status_home_before_the_first_push_explains_why_nothing_was_pushed(homes, capsys):
    before, _ = homes
    assert main(["status", "--home", before]) == 0
    out = capsys.readouterr().out
    assert f"{before}/serving: no models pushed yet" in out
    assert "not pushed" in out and "why: mean return" in out and "below the threshold" in out
    assert "bounds: min mean return 100000" in out
    assert main(["status", "--home", before, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (run,) = result["last_runs"]
    assert run["pushed"] is False and run["model"] == MODEL and run["run_id"]
    assert run["thresholds"]["min_mean_return"] == 100000.0
    assert any("threshold" in reason for reason in run["reasons"])


def test_status_home_after_the_push_shows_the_version_and_its_bounds(home, capsys):
    assert main(["status", "--home", home]) == 0
    out = capsys.readouterr().out
    # Both bounds it was blessed under: the threshold asked for, and the random
    # policy's mean return measured in the same run (order as the provenance keeps it).
    blessed = out.split("blessed under ", 1)[1].split("\n", 1)[0]
    assert "min mean return 0" in blessed and "above random mean return" in blessed
    assert "mean_return" in out
    assert f"pushed version {_version(home)}" in out


def test_lineage_and_report_of_the_run_before_the_first_push_explain_the_decision(
    homes, tmp_path, capsys, open_in_chromium
):
    before, _ = homes
    assert main(["lineage", MODEL, "--home", before, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["version"] is None and result["run_id"]
    assert result["decision"]["blessed"] is False
    assert "below the threshold" in result["decision"]["reasons"][0]
    assert [s["node"] for s in result["steps"]][0] == "Pusher"
    out = str(tmp_path / "run.html")
    assert main(["report", result["run_id"], "--home", before, "--out", out]) == 0
    page = open(out).read()
    assert f"run {result['run_id']}, nothing pushed" in page
    assert "below the threshold" in page and "min mean return 100000" in page
    assert "<h2>Lineage</h2>" in page and "http://" not in page and "https://" not in page
    loaded, total, errors, overflow = open_in_chromium(out, tmp_path)
    assert total >= 2 and loaded == total and errors == 0 and not overflow
    # What `vrl run` writes beside a run that pushed nothing.
    root = os.path.join(before, "tfx", "vrl-rl-cartpole-v1")
    beside = write_beside_run(None, os.path.join(before, "serving"), before, root)
    assert os.path.dirname(beside) == os.path.join(root, "reports")
    assert "nothing pushed" in open(beside).read()


def test_lineage_goes_from_the_push_to_the_trainer(home, capsys):
    assert main(["lineage", f"{MODEL}:{_version(home)}", "--home", home, "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)["steps"]
    nodes = [s["node"] for s in steps]
    assert nodes[0] == "Pusher" and {"PolicyEvaluator", "DqnTrainer"} <= set(nodes)
    assert all(s["state"] == "COMPLETE" for s in steps)
    trainer = next(s for s in steps if s["node"] == "DqnTrainer")
    assert trainer["properties"]["env_id"] == "CartPole-v1"


def test_report_renders_in_headless_chromium_with_every_image(
    home, tmp_path, capsys, open_in_chromium
):
    out = str(tmp_path / "report.html")
    assert main(["report", MODEL, "--home", home, "--out", out]) == 0
    page = open(out).read()
    assert page.count("data:image/png;base64,") >= 2  # return curve and return histogram
    assert "min mean return 0" in page  # the bounds it was blessed under
    loaded, total, errors, overflow = open_in_chromium(out, tmp_path)
    assert total >= 2 and loaded == total and errors == 0 and not overflow
