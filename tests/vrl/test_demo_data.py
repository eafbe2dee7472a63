"""Demo datasets: deterministic shapes and scikit-learn digits as image folders."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from vrl import demo_data


def _digest_tree(root: str) -> dict[str, str]:
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_shapes_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a = demo_data.make_shapes(str(tmp_path / "a"), per_class=6, seed=5)
    demo_data.make_shapes(str(tmp_path / "b"), per_class=6, seed=5)
    demo_data.make_shapes(str(tmp_path / "c"), per_class=6, seed=6)
    tree_a = _digest_tree(str(tmp_path / "a"))
    assert tree_a == _digest_tree(str(tmp_path / "b"))
    assert tree_a != _digest_tree(str(tmp_path / "c"))
    assert len(tree_a) == a["total"] == 30


def test_shapes_have_five_classes_mixed_formats_and_sizes(tmp_path):
    summary = demo_data.make_shapes(str(tmp_path), per_class=20, seed=0)
    assert len(summary["classes"]) >= 5
    assert sorted(os.listdir(tmp_path)) == sorted(summary["classes"])
    formats, sizes, modes = set(), set(), set()
    for cls in summary["classes"]:
        files = os.listdir(tmp_path / cls)
        assert len(files) == summary["counts"][cls] == 20
        for name in files:
            with Image.open(tmp_path / cls / name) as img:
                formats.add(img.format)
                sizes.add(img.size)
                modes.add(img.mode)
                assert 28 <= min(img.size) and max(img.size) <= 96
    assert formats == {"PNG", "JPEG"}
    assert summary["formats"]["png"] > 0 and summary["formats"]["jpeg"] > 0
    assert any(w != h for w, h in sizes) and any(w == h for w, h in sizes)
    assert len(sizes) > 20
    assert modes == {"RGB"}
    assert summary["pattern"] == "*/*"


def test_shape_images_differ_within_a_class_and_show_the_shape(tmp_path):
    demo_data.make_shapes(str(tmp_path), per_class=2, seed=0)
    rng = np.random.default_rng(0)
    img = np.asarray(demo_data.draw_shape("circle", rng)).astype(float)
    # Shape pixels differ clearly from the (noisy) background.
    assert img.std() > 20
    files = sorted(os.listdir(tmp_path / "star"))
    with (
        open(tmp_path / "star" / files[0], "rb") as f0,
        open(tmp_path / "star" / files[1], "rb") as f1,
    ):
        assert f0.read() != f1.read()


def _luminance(img: np.ndarray) -> np.ndarray:
    return img.astype(float) @ np.array([0.299, 0.587, 0.114])


def test_shapes_lie_inside_the_part_the_center_crop_keeps():
    # Transform resizes the shorter side and keeps the central square; a shape
    # outside it would reach the model as background under the shape's label.
    outside_seen = 0
    for i in range(120):
        rng = np.random.default_rng([3, i])
        lum = _luminance(np.asarray(demo_data.draw_shape(demo_data.SHAPE_CLASSES[i % 5], rng)))
        h, w = lum.shape
        if h == w:
            continue
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        keep = np.zeros_like(lum, dtype=bool)
        keep[top : top + s, left : left + s] = True
        # 3x3 means: the background's noise averages out, a shape's pixels
        # (>= 90 luminance away) do not.
        padded = np.pad(lum, 1, mode="edge")
        smooth = sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9
        background = np.median(lum[~keep])
        assert np.abs(smooth[~keep] - background).max() < 45, f"image {i}: shape outside the crop"
        outside_seen += 1
    assert outside_seen > 30  # enough non-square images were checked


def test_spans_write_separate_trees_with_different_images(tmp_path):
    summary = demo_data.make_shapes(str(tmp_path), per_class=3, seed=1, spans=2)
    assert sorted(os.listdir(tmp_path)) == ["span-1", "span-2"]
    assert summary["pattern"] == "span-{SPAN}/*/*"
    assert summary["total"] == 2 * 3 * len(summary["classes"])
    one = _digest_tree(str(tmp_path / "span-1"))
    two = _digest_tree(str(tmp_path / "span-2"))
    assert len(one) == len(two) == 15
    assert not set(one.values()) & set(two.values())


def test_digits_are_1797_grayscale_pngs_in_ten_folders(tmp_path):
    summary = demo_data.make_digits(str(tmp_path))
    assert summary["total"] == 1797
    assert summary["classes"] == [str(d) for d in range(10)]
    assert sorted(os.listdir(tmp_path), key=int) == summary["classes"]
    assert sum(len(os.listdir(tmp_path / d)) for d in summary["classes"]) == 1797
    with Image.open(tmp_path / "0" / sorted(os.listdir(tmp_path / "0"))[0]) as img:
        assert (img.format, img.mode, img.size) == ("PNG", "L", (32, 32))
        pixels = np.asarray(img)
    assert pixels.max() > 200 and pixels.min() < 30  # scaled from 0..16 to 0..255


def test_existing_dataset_is_never_mixed_with_a_new_one(tmp_path):
    out = tmp_path / "shapes"
    demo_data.make_shapes(str(out), per_class=2)
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(FileExistsError, match="already exists and is not empty"):
        demo_data.make_shapes(str(out), per_class=3)
    assert sorted(p.name for p in out.rglob("*")) == before


def test_interrupted_write_leaves_no_dataset_behind(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_data, "_write_shape_tree", boom)
    with pytest.raises(KeyboardInterrupt):
        demo_data.make_shapes(str(tmp_path / "shapes"), per_class=2)
    assert list(tmp_path.iterdir()) == []
