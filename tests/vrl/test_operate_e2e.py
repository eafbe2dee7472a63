"""Operating a real local run: provenance, status, lineage and report after a
pushed and a not-blessed RL run (LocalDagRunner, SQLite ML Metadata)."""

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

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "dqn_cartpole_v1"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("home"))
    common = ["run", "rl", "--env", "CartPole-v1", "--home", home, "--steps", "1000"]
    common += ["--eval-episodes", "3"]
    assert main([*common, "--threshold", "0"]) == 0  # blessed: pushed
    assert main([*common, "--threshold", "100000"]) == 0  # not blessed: correctly not pushed
    return home


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
    assert record["code"]["package_version"]


def test_status_after_a_not_blessed_run_shows_the_served_version_and_the_reason(home, capsys):
    serving = os.path.join(home, "serving")
    assert main(["status", "--serving-base", serving, "--home", home, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (model,) = result["models"]
    assert [v["version"] for v in model["versions"]] == [_version(home)]
    assert "mean_return" in model["versions"][0]["summary"]
    (run,) = result["last_runs"]
    assert run["pushed"] is False and "threshold" in run["reason"]


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
    serving = os.path.join(home, "serving")
    assert main(["report", MODEL, "--serving-base", serving, "--home", home, "--out", out]) == 0
    page = open(out).read()
    assert page.count("data:image/png;base64,") >= 2  # return curve and return histogram
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("no chromium on PATH (Debian package `chromium`)")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*flags, "--dump-dom", f"file://{out}"], capture_output=True, text=True, timeout=120
    ).stdout
    body = re.search(r'<body data-images="(\d+)/(\d+)" data-errors="(\d+)"', dom)
    assert body, "the page's load check did not run"
    loaded, total, errors = map(int, body.groups())
    assert total >= 2 and loaded == total and errors == 0
    shot = str(tmp_path / "report.png")
    subprocess.run(
        [*flags, "--window-size=1200,1600", f"--screenshot={shot}", f"file://{out}"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert os.path.getsize(shot) > 10_000 and not _png_is_blank(shot)


def test_image_push_carries_span_counts_tfma_metrics_and_trainer_config(tmp_path):
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
