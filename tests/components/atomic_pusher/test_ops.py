import errno
import os
import subprocess

import pytest
import tensorflow as tf

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


# Disk full during a push (issue 21): one line naming the destination and the space
# needed vs free; the served version intact; no half version visible.


def _served(tmp_path):
    """A model base with version 1 pushed, and a bigger model (about 3 MB) to push."""
    base = str(tmp_path / "serving" / "clf")
    ops.atomic_push(_saved_model(tmp_path, "v1"), base, version=1)
    big = _saved_model(tmp_path, "big")
    with open(os.path.join(big, "variables", "variables.data-00000-of-00001"), "wb") as f:
        f.write(os.urandom(3 << 20))
    return base, big, ops.tree_digest(os.path.join(base, "1"))


def _assert_untouched(base, digest):
    assert os.listdir(base) == ["1"]  # no staging folder, no version 2
    assert serving_base.complete_versions(base) == [1]
    assert ops.tree_digest(os.path.join(base, "1")) == digest


def test_a_push_that_does_not_fit_is_refused_before_copying(tmp_path, monkeypatch):
    base, big, digest = _served(tmp_path)
    monkeypatch.setattr(ops, "free_bytes", lambda path: 2 << 20)
    with pytest.raises(serving_base.PushSpaceError) as caught:
        ops.atomic_push(big, base, version=2)
    message = str(caught.value)
    assert "\n" not in message and caught.value.errno == errno.ENOSPC
    # 3 MiB of variables and 3 small files in 4 KiB blocks, and 64 KiB for provenance + marker
    assert f"no space to write {base}/2: it needs 3.1 MB, 2.0 MB free there" in message
    _assert_untouched(base, digest)


@pytest.mark.parametrize("failing", ["copy", "marker"])
def test_disk_full_mid_push_leaves_no_half_version(tmp_path, monkeypatch, failing):
    """ENOSPC as TensorFlow's file system raises it (RESOURCE_EXHAUSTED, measured on a
    full tmpfs), while copying or while writing the marker after the rename."""
    base, big, digest = _served(tmp_path)
    monkeypatch.setattr(ops, "free_bytes", lambda path: None)  # as on an object store
    full = tf.errors.ResourceExhaustedError(None, None, "")
    if failing == "copy":
        real_copy = tf.io.gfile.copy

        def copy(src, dst, overwrite=False):
            real_copy(src, dst, overwrite)
            if "variables.data" in src:
                raise full

        monkeypatch.setattr(tf.io.gfile, "copy", copy)
    else:
        monkeypatch.setattr(ops, "_mark", lambda final, version: (_ for _ in ()).throw(full))
    with pytest.raises(serving_base.PushSpaceError, match=rf"^no space to write {base}/2: "):
        ops.atomic_push(big, base, version=2)
    _assert_untouched(base, digest)


@pytest.fixture
def full_tmpfs(tmp_path):
    """A real 2 MiB tmpfs (needs the right to mount, e.g. root in a container)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_real_full_disk_mid_copy_leaves_the_served_version_intact(
    tmp_path, full_tmpfs, monkeypatch
):
    base = str(full_tmpfs / "clf")
    ops.atomic_push(_saved_model(tmp_path, "v1"), base, version=1)
    digest = ops.tree_digest(os.path.join(base, "1"))
    big = _saved_model(tmp_path, "big")
    with open(os.path.join(big, "variables", "variables.data-00000-of-00001"), "wb") as f:
        f.write(os.urandom(3 << 20))
    with pytest.raises(
        serving_base.PushSpaceError, match=r"it needs 3\.1 MB, [12]\.\d MB free there"
    ):
        ops.atomic_push(big, base, version=2)  # refused by the check before copying
    monkeypatch.setattr(ops, "free_bytes", lambda path: None)  # now the kernel's ENOSPC
    with pytest.raises(serving_base.PushSpaceError, match=rf"^no space to write {base}/2: "):
        ops.atomic_push(big, base, version=2)
    _assert_untouched(base, digest)
