"""The commit `vrl submit` names a pipeline version after (kubeflow/upload.py)."""

from __future__ import annotations

import os
import stat
import time

from kubeflow.upload import git_commit, version_name


def test_the_version_names_the_enclosing_checkouts_commit_in_twelve_digits(tmp_path, git_checkout):
    repo, head = git_checkout
    os.mkdir(os.path.join(repo, "kubeflow"))

    assert git_commit(os.path.join(repo, "kubeflow")) == head[:12]
    assert version_name("image-classifier", head[:12]).endswith(f" UTC {head[:12]}")
    assert git_commit(str(tmp_path)) is None  # not inside a checkout


def test_a_git_that_does_not_answer_gives_no_commit_instead_of_a_hang(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")

    start = time.monotonic()
    assert git_commit(str(tmp_path), timeout=0.5) is None
    assert time.monotonic() - start < 30  # the 60 s sleep was cut short


def test_no_git_binary_gives_no_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert git_commit(str(tmp_path)) is None
