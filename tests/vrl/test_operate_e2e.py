"""Operating a real local run as an operator walks it (LocalDagRunner, SQLite ML
Metadata): before the first push (an RL run that is not blessed), `vrl status`,
`lineage` and `report RUN` explain why nothing was pushed; after a push, provenance
with the bounds it was blessed under, status, lineage and the report (rendered
offline in headless Chromium, TFDV statistics included for the image run)."""

import json
import os
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from components.atomic_pusher.provenance import read_provenance
from vrl.cli import main
from vrl.report import write_beside_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "dqn_cartpole_v1"


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    """(the home before any push, the home after one): one RL run that is not blessed,
    a copy of its home, then a run that is blessed and pushed."""
    home = str(tmp_path_factory.mktemp("home") / "runs")
    # 2,500 steps: the default config trains from step 1,000, and only a policy that
    # trained and beats a random one is blessed.
    common = ["run", "rl", "--env", "CartPole-v1", "--home", home, "--steps", "2500"]
    common += ["--eval-episodes", "3"]
    assert main([*common, "--threshold", "100000"]) == 0  # not blessed: correctly not pushed
    before = str(tmp_path_factory.mktemp("before") / "runs")
    shutil.copytree(home, before)
    assert main([*common, "--threshold", "0"]) == 0  # blessed: pushed
    return before, home


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
    assert evaluation["blessed"] is True and evaluation["episodes"] == 3
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


def _open_in_chromium(out, tmp_path):
    """The page's load-check marks from a headless Chromium DOM dump, after a screenshot
    that is not blank."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("no chromium on PATH (Debian package `chromium`)")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    # No network: a page that needs one would show a blank box or fail to load a script.
    flags += ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    dom = subprocess.run(
        [*flags, "--window-size=1000,1600", "--dump-dom", f"file://{out}"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    body = re.search(
        r'<body data-images="(\d+)/(\d+)" data-errors="(\d+)" data-overflow="(\w+)"', dom
    )
    assert body, "the page's load check did not run"
    shot = str(tmp_path / "report.png")
    subprocess.run(
        [*flags, "--window-size=1200,1600", f"--screenshot={shot}", f"file://{out}"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert os.path.getsize(shot) > 10_000 and not _png_is_blank(shot)
    loaded, total, errors = map(int, body.groups()[:3])
    return loaded, total, errors, body.group(4) == "true"


def test_lineage_and_report_of_the_run_before_the_first_push_explain_the_decision(
    homes, tmp_path, capsys
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
    loaded, total, errors, overflow = _open_in_chromium(out, tmp_path)
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


def _png_is_blank(path):
    """True when every pixel of the screenshot has the same colour."""
    data = open(path, "rb").read()
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    return len(set(raw[1:4096])) <= 2 and len(set(raw[-4096:])) <= 2


def test_report_renders_in_headless_chromium_with_every_image(home, tmp_path, capsys):
    out = str(tmp_path / "report.html")
    assert main(["report", MODEL, "--home", home, "--out", out]) == 0
    page = open(out).read()
    assert page.count("data:image/png;base64,") >= 2  # return curve and return histogram
    assert "min mean return 0" in page  # the bounds it was blessed under
    loaded, total, errors, overflow = _open_in_chromium(out, tmp_path)
    assert total >= 2 and loaded == total and errors == 0 and not overflow


def test_image_push_carries_span_counts_tfma_metrics_bounds_and_renders_offline(tmp_path):
    from vrl import demo_data

    data = str(tmp_path / "data")
    demo_data.make_shapes(data, per_class=30, seed=5, spans=1)
    home = str(tmp_path / "home")
    argv = ["run", "image", "--data", data, "--home", home, "--epochs", "2"]
    argv += ["--no-sanity-checks", "--min-accuracy", "0", "--max-accuracy-drop", "1"]
    assert main(argv) == 0
    model_dir = os.path.join(home, "serving", "image_classifier")
    (version,) = os.listdir(model_dir)
    record = read_provenance(os.path.join(model_dir, version))
    data_section = record["data"]
    assert data_section["files_seen"] == 150 and data_section["input_fingerprint"]
    assert data_section["span"] == 0 and data_section["quarantined"] == 0
    assert sum(data_section["examples_per_split"].values()) == 150
    assert set(data_section["record_files_per_split"]) == {"train", "eval"}
    evaluation = record["evaluation"]
    assert evaluation["blessed"] is True and evaluation["baseline"] is None
    assert 0.0 <= evaluation["value"] <= 1.0 and len(evaluation["per_class_accuracy"]) == 5
    assert record["trainer"]["epochs"] == 2
    assert record["metrics"]["training"]["epochs_run"] == 2
    # Blessed without a baseline: the value bound applied (on every class too), no change bound.
    assert evaluation["thresholds"] == {
        "min_accuracy": 0.0,
        "slices": ["overall", "each label_name"],
    }
    out = str(tmp_path / "report.html")
    assert main(["report", "image_classifier", "--home", home, "--out", out]) == 0
    page = open(out).read()
    assert "<iframe" not in page and "http://" not in page and "https://" not in page
    assert "feature histograms (TFDV statistics)" in page and "label_name" in page
    loaded, total, errors, overflow = _open_in_chromium(out, tmp_path)
    assert total >= 4 and loaded == total and errors == 0 and not overflow
