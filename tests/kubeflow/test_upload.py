"""The commit `vrl submit` names a pipeline version after (kubeflow/upload.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import time

from kubeflow.upload import git_commit, version_name


def _git(cwd, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com")
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_version_names_the_enclosing_checkouts_commit_in_twelve_digits(tmp_path):
    repo = tmp_path / "repo"
    (repo / "kubeflow").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "README.md").write_text("x\n")
    _git(repo, "add", "README.md")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")

    assert git_commit(str(repo / "kubeflow")) == head[:12]
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
