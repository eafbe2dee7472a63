"""What `vrl run image` and `vrl status` say about a push: new, already served, none."""

import pytest

from pipeline.image_config import ImagePipelineConfig
from vrl.image import print_summary
from vrl.results import RunSummary

SERVED = "/srv/models/image_classifier/1796633008"


@pytest.mark.parametrize(
    ("summary", "line"),
    [
        (RunSummary(blessed=True, pushed=True, pushed_path=SERVED), f"pushed to: {SERVED}"),
        (
            RunSummary(blessed=True, pushed=True, pushed_path=SERVED, already_served=True),
            f"already served: {SERVED} (identical model; not pushed again)",
        ),
        (
            RunSummary(blessed=False, pushed=False),
            "not pushed (model not blessed); the served model is unchanged",
        ),
    ],
    ids=["new-version", "already-served", "not-blessed"],
)
def test_the_push_line_says_what_happened(tmp_path, capsys, summary, line):
    print_summary(ImagePipelineConfig(data_dir=str(tmp_path), home=str(tmp_path)), summary)
    out = capsys.readouterr().out.splitlines()
    assert line in out
    assert summary.already_served or not any(o.startswith("already served") for o in out)
    assert not summary.already_served or not any(o.startswith("pushed to") for o in out)


def test_status_line_of_a_run_whose_model_was_already_served():
    from vrl.runs import explain_line

    outcome = {"time": "2026-12-07 08:43", "run_id": "r2", "pushed": True, "version": 7}
    assert explain_line(outcome, None).endswith(": pushed version 7")
    again = {**outcome, "already_served": True}
    assert explain_line(again, None).endswith(
        ": its model is the served version 7 (not pushed again)"
    )
