import os

import pytest

from components.atomic_pusher import ops


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


def test_versions_strictly_increase_even_within_one_second(tmp_path):
    base = str(tmp_path / "clf")
    os.makedirs(os.path.join(base, "1000"))
    assert ops.next_version(base, now=1000) == 1001
    assert ops.next_version(base, now=2000) == 2000
    assert ops.next_version(str(tmp_path / "missing"), now=5) == 5


def test_failed_copy_leaves_no_visible_version(tmp_path, monkeypatch):
    base = tmp_path / "clf"

    def boom(src, dst):
        os.makedirs(dst)
        open(os.path.join(dst, "partial"), "w").close()
        raise OSError("disk full")

    monkeypatch.setattr(ops.shutil, "copytree", boom)
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
