"""What `vrl run image` prints about the push: a new version, one already served, none."""

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
