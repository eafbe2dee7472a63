import json
import os

from components.atomic_pusher import ops, provenance


def _saved_model(tmp_path, name="model"):
    src = tmp_path / name
    (src / "variables").mkdir(parents=True)
    (src / "saved_model.pb").write_bytes(b"graph")
    (src / "variables" / "variables.index").write_bytes(b"index")
    return str(src)


def _record(**evaluation):
    return provenance.build(
        model_name="clf",
        version=0,
        kind="image",
        pipeline={"name": "vrl-image", "run_id": "r1"},
        data={"span": 2, "examples_per_split": {"train": 8, "eval": 2}},
        trainer={"epochs": 3},
        metrics=None,
        evaluation={"metric": "accuracy", "value": 0.9, "blessed": True, **evaluation},
        code={"package": "vision-rl-pipeline", "package_version": "0.1", "git_commit": "abc"},
    )


def test_push_writes_provenance_inside_the_version_with_the_pushed_version(tmp_path):
    base = tmp_path / "clf"
    final = ops.atomic_push(_saved_model(tmp_path), str(base), version=9, provenance=_record())
    written = provenance.read_provenance(final)
    assert written["version"] == 9 and written["data"]["span"] == 2
    assert written["evaluation"]["blessed"] is True
    assert os.path.isfile(os.path.join(final, "assets.extra", "vrl_provenance.json"))
    assert sorted(os.listdir(base)) == ["9"]


def test_provenance_does_not_make_an_identical_model_look_different(tmp_path):
    base = str(tmp_path / "clf")
    src = _saved_model(tmp_path)
    first = ops.atomic_push(src, base, version=1, provenance=_record())
    assert ops.latest_identical_version(src, base) == first
    assert ops.tree_digest(first) == ops.tree_digest(src)


def test_version_without_provenance_reads_as_none_and_summarises_plainly(tmp_path):
    final = ops.atomic_push(_saved_model(tmp_path), str(tmp_path / "clf"), version=1)
    assert provenance.read_provenance(final) is None
    assert provenance.summary_line(None) == "no provenance"


def test_summary_line_shows_span_metric_baseline_delta_and_decision():
    line = provenance.summary_line(_record(baseline={"version": 7}, delta=0.0125))
    assert "span 2" in line and "accuracy 0.9000," in line
    assert "vs v7 +0.0125," in line and "blessed" in line and "code abc" in line
    assert "no baseline" in provenance.summary_line(_record())


def test_summary_line_prints_metrics_as_the_run_summaries_do():
    # `.4g` printed a perfect model as `accuracy 1` and an equal one as `+0`.
    line = provenance.summary_line(_record(value=1.0, baseline={"version": 7}, delta=0.0))
    assert "accuracy 1.0000, vs v7 +0.0000," in line
    policy = {"metric": "mean_return", "value": 500.0, "baseline": {"version": 3}, "delta": 7.4}
    assert "mean_return 500.0, vs v3 +7.4," in provenance.summary_line({"evaluation": policy})


def test_data_section_prefers_artifact_properties_and_fills_from_the_ingest_report():
    data = provenance.data_section(
        {"uri": "ram://ex", "span": 3, "input_fingerprint": "fp"},
        {"span": 1, "version": None, "files_seen": 10, "quarantined": 1, "examples_per_split": {}},
        {"train": 1, "eval": 1},
    )
    assert data["span"] == 3 and data["input_fingerprint"] == "fp"
    assert data["files_seen"] == 10 and data["quarantined"] == 1
    assert data["record_files_per_split"] == {"train": 1, "eval": 1}
    assert provenance.data_section(None, None) is None
    json.dumps(data)


def test_the_commit_is_found_in_a_clone_and_in_a_worktree_and_none_elsewhere(
    tmp_path, git, git_checkout
):
    repo, head = git_checkout
    git("worktree", "add", "-q", "--detach", str(tmp_path / "wt"), cwd=repo)

    assert (tmp_path / "wt" / ".git").is_file()  # a worktree's .git is a file
    assert provenance.git_commit(repo) == head
    assert provenance.git_commit(str(tmp_path / "wt")) == head
    assert provenance.git_commit(str(tmp_path)) is None
