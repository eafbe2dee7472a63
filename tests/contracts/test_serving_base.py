"""The serving base layout: version numbers and which versions are complete."""

from __future__ import annotations

import os

import tensorflow as tf

from contracts import serving_base


def _version(base, version: int, marker: bool = False, graph: bool = True) -> None:
    folder = base / str(version)
    (folder / "assets.extra").mkdir(parents=True)
    if graph:
        (folder / "saved_model.pb").write_bytes(b"graph")
    if marker:
        (folder / serving_base.PUSH_MARKER_FILE).write_text("{}")


def test_versions_strictly_increase_even_within_one_second(tmp_path):
    base = str(tmp_path / "clf")
    os.makedirs(os.path.join(base, "1000"))
    assert serving_base.next_version(base, now=1000) == 1001
    assert serving_base.next_version(base, now=2000) == 2000
    assert serving_base.next_version(str(tmp_path / "missing"), now=5) == 5


def test_only_marked_versions_count_once_a_model_uses_markers(tmp_path):
    _version(tmp_path, 1, marker=True)
    _version(tmp_path, 2)  # a push caught half-way: graph, no marker
    (tmp_path / ".staging-3-deadbeef").mkdir()
    assert serving_base.complete_versions(str(tmp_path)) == [1]


def test_a_base_written_by_other_tools_counts_every_saved_model(tmp_path):
    _version(tmp_path, 1)
    _version(tmp_path, 2)
    _version(tmp_path, 3, graph=False)  # no SavedModel: not a version
    assert serving_base.complete_versions(str(tmp_path)) == [1, 2]
    assert serving_base.complete_versions(str(tmp_path / "missing")) == []


def test_uris_are_read_through_gfile():
    base = "ram://contracts-base/clf"
    for version, marker in ((4, True), (5, False)):
        tf.io.gfile.makedirs(f"{base}/{version}/assets.extra")
        with tf.io.gfile.GFile(f"{base}/{version}/saved_model.pb", "wb") as f:
            f.write(b"graph")
        if marker:
            with tf.io.gfile.GFile(f"{base}/{version}/{serving_base.PUSH_MARKER_FILE}", "w") as f:
                f.write("{}")
    assert serving_base.complete_versions(base) == [4]
    assert serving_base.next_version(base, now=1) == 6
