"""The report's classification section reads the Trainer's error analysis, written by
the Trainer's own writer, from the ModelRun folder the run's lineage reaches."""

import base64
import re

import numpy as np
import pytest

from models.cnn import error_analysis as ea
from vrl import report_model

NAMES = ["square", "circle", "star"]  # not sorted: the rows keep this order


def _png(color: int) -> bytes:
    import tensorflow as tf

    return tf.io.encode_png(np.full((8, 8, 3), color, np.uint8)).numpy()


@pytest.fixture
def model_run(tmp_path):
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.2, 0.7, 0.1],  # square -> circle (0.70)
            [0.1, 0.8, 0.1],
            [0.1, 0.85, 0.05],
            [0.05, 0.05, 0.9],
            [0.6, 0.1, 0.3],  # star -> square (0.60)
        ]
    )
    wrong = {1: _png(10), 5: _png(200)}
    summary = ea.write_outputs(str(tmp_path), labels, probs, NAMES, (2,), wrong)
    return tmp_path, summary


def _lineage(uri: str) -> dict:
    run = {"id": 7, "type": "ModelRun", "uri": uri}
    return {"steps": [{"inputs": [run], "outputs": []}]}


def _embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_section_is_the_trainers_error_analysis(model_run):
    folder, summary = model_run
    page = report_model.classification(_lineage(str(folder)), None)
    assert "6 eval examples, accuracy 0.6667; top-2 " in page
    assert f"top-2 {summary['top_k_accuracy']['top_2']:.4f}" in page
    # One row per class, in the Trainer's class order, with its support.
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\d+)</td>", page)
    assert rows == [("square", "2"), ("circle", "2"), ("star", "2")]
    # The two plots the Trainer drew, byte for byte.
    with open(folder / ea.OUTPUT_DIR / ea.CONFUSION_PNG, "rb") as f:
        confusion = f.read()
    with open(folder / ea.OUTPUT_DIR / ea.WRONG_PNG, "rb") as f:
        grid = f.read()
    assert _embedded_pngs(page) == [confusion, grid]


def test_section_says_so_when_no_error_analysis_is_reachable(tmp_path):
    for lineage in (None, _lineage(str(tmp_path / "gone"))):
        page = report_model.classification(lineage, None)
        assert "error analysis is not reachable from here" in page
        assert "<img" not in page
