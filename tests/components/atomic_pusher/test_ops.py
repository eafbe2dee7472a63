import os

import pytest

from components.atomic_pusher import ops
from contracts import serving_base


def _saved_model(tmp_path, name="model"):
    src = tmp_path / name
    (src / "variables").mkdir(parents=True)
    (src / "saved_model.pb").write_bytes(b"graph")
    (src / "variables" / "variables.index").write_bytes(b"index")
    return str(src)


def test_push_writes_numbered_version_with_every_file(tmp_path):
    base = tmp_path / "serving" / "clf"
    final = ops.atomic_push(_saved_model(tmp_path), str(base), version=7)
    assert final == str(base / "7")
    assert (base / "7" / "saved_model.pb").read_bytes() == b"graph"
    assert (base / "7" / "variables" / "variables.index").read_bytes() == b"index"
    assert sorted(os.listdir(base)) == ["7"]  # no staging folder left behind
    assert serving_base.has_marker(final) and serving_base.complete_versions(str(base)) == [7]


def test_failed_copy_leaves_no_visible_version(tmp_path, monkeypatch):
    base = tmp_path / "clf"

    def boom(src, dst):
        os.makedirs(dst)
        open(os.path.join(dst, "partial"), "w").close()
        raise OSError("disk full")

    monkeypatch.setattr(ops, "_copy_tree", boom)
    with pytest.raises(OSError, match="disk full"):
        ops.atomic_push(_saved_model(tmp_path), str(base), version=3)
    assert os.listdir(base) == []


def test_refuses_folder_without_saved_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        ops.atomic_push(str(tmp_path / "empty"), str(tmp_path / "clf"))


def test_refuses_to_overwrite_existing_version(tmp_path):
    base = tmp_path / "clf"
    (base / "5").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="already exists"):
        ops.atomic_push(_saved_model(tmp_path), str(base), version=5)


def test_identical_model_is_recognised_as_already_served(tmp_path):
    base = str(tmp_path / "clf")
    src = _saved_model(tmp_path)
    assert ops.latest_identical_version(src, base) is None
    first = ops.atomic_push(src, base, version=1)
    assert ops.latest_identical_version(src, base) == first
    with open(os.path.join(src, "variables", "variables.index"), "wb") as f:
        f.write(b"retrained")
    assert ops.latest_identical_version(src, base) is None  # changed weights: push again


def test_stale_staging_folder_of_a_killed_push_is_removed_by_the_next_push(tmp_path):
    base = tmp_path / "clf"
    stale = base / ".staging-3-deadbeef"
    (stale / "variables").mkdir(parents=True)
    (stale / "saved_model.pb").write_bytes(b"half")
    ops.atomic_push(_saved_model(tmp_path), str(base), version=4)
    assert sorted(os.listdir(base)) == ["4"]


def test_version_without_marker_is_ignored_once_the_model_uses_markers(tmp_path):
    base = tmp_path / "clf"
    ops.atomic_push(_saved_model(tmp_path), str(base), version=1)
    half = base / "2"  # e.g. an object-store rename still in progress
    half.mkdir()
    (half / "saved_model.pb").write_bytes(b"graph")
    assert serving_base.complete_versions(str(base)) == [1]


def test_push_on_an_object_store_uri_copies_renames_and_marks(tmp_path):
    import tensorflow as tf

    src = "ram://pusher-test/src"
    tf.io.gfile.makedirs(src + "/variables")
    for rel, data in (("saved_model.pb", b"graph"), ("variables/variables.index", b"index")):
        with tf.io.gfile.GFile(f"{src}/{rel}", "wb") as f:
            f.write(data)
    base = "ram://pusher-test/serving/clf"
    final = ops.atomic_push(src, base, version=9)
    assert final == base + "/9"
    with tf.io.gfile.GFile(final + "/variables/variables.index", "rb") as f:
        assert f.read() == b"index"
    assert serving_base.has_marker(final)
    assert not [p for p in tf.io.gfile.glob(base + "/.staging-*/*")]
    assert serving_base.complete_versions(base) == [9]
    assert ops.latest_identical_version(src, base) == final
