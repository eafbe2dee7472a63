"""Deterministic demo datasets written as class-per-folder image trees.

`make_shapes` draws synthetic shapes; `make_digits` writes scikit-learn's
bundled handwritten digits. Both use numpy and Pillow only (no TensorFlow) so
the command line stays fast.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import tempfile
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw

from contracts.files import FOLDER_PATTERN, SPAN_FOLDER_PATTERN, SPAN_FOLDER_PREFIX

SHAPE_CLASSES = ("circle", "cross", "square", "star", "triangle")
# Input pattern for ImageExampleGen, relative to the dataset root.

_MIN_SIDE, _MAX_SIDE = 28, 96
_JPEG_SHARE = 0.4
_MIN_CONTRAST = 90.0  # luminance gap between shape and background, 0..255

Point = tuple[float, float]


def _rotate(points: list[Point], cx: float, cy: float, angle: float) -> list[Point]:
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    return [(cx + x * cos_a - y * sin_a, cy + x * sin_a + y * cos_a) for x, y in points]


def _regular_polygon(n: int, r: float) -> list[Point]:
    return [
        (r * math.cos(2 * math.pi * k / n), r * math.sin(2 * math.pi * k / n)) for k in range(n)
    ]


def _star(r: float) -> list[Point]:
    pts = []
    for k in range(10):
        rr = r if k % 2 == 0 else r * 0.42
        a = math.pi * k / 5 - math.pi / 2
        pts.append((rr * math.cos(a), rr * math.sin(a)))
    return pts


def _cross(r: float) -> list[Point]:
    t = r * 0.33  # half arm width
    return [
        (-t, -r), (t, -r), (t, -t), (r, -t), (r, t), (t, t),
        (t, r), (-t, r), (-t, t), (-r, t), (-r, -t), (-t, -t),
    ]  # fmt: skip


def _outline(shape: str, r: float) -> list[Point]:
    if shape == "square":
        return _regular_polygon(4, r * 1.15)
    if shape == "triangle":
        return _regular_polygon(3, r * 1.2)
    if shape == "star":
        return _star(r * 1.2)
    if shape == "cross":
        return _cross(r)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPE_CLASSES}")


def _luminance(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random background and foreground colours at least _MIN_CONTRAST apart."""
    bg = rng.uniform(0, 255, size=3)
    while True:
        fg = rng.uniform(0, 255, size=3)
        if abs(_luminance(fg) - _luminance(bg)) >= _MIN_CONTRAST:
            return bg, fg


def _centre(rng: np.random.Generator, length: int, side: int, r: float) -> float:
    """A random centre along an axis of `length` px for a shape of radius `r` (drawn out
    to r * 1.2) that stays inside the central `side` px of that axis."""
    margin = r * 1.2
    low = (length - side) // 2
    return rng.uniform(low + margin, low + side - margin) if side > 2 * margin else length / 2


def draw_shape(shape: str, rng: np.random.Generator) -> Image.Image:
    """Draws one RGB image of `shape` with random size, place, angle, colours and noise."""
    width, height = (int(v) for v in rng.integers(_MIN_SIDE, _MAX_SIDE + 1, size=2))
    if rng.random() < 0.5:  # half square, half not
        height = width
    bg, fg = _colours(rng)
    noise_sigma = rng.uniform(3.0, 18.0)
    canvas = np.clip(bg + rng.normal(0.0, noise_sigma, size=(height, width, 3)), 0, 255)
    img = Image.fromarray(canvas.astype(np.uint8), "RGB")

    side = min(width, height)
    r = side * rng.uniform(0.28, 0.4)
    # The shape lies inside the central side x side square: the part of a non-square
    # image that Transform's resize-and-center-crop keeps, so every label stays visible.
    cx = _centre(rng, width, side, r)
    cy = _centre(rng, height, side, r)
    fill = tuple(int(c) for c in fg)
    draw = ImageDraw.Draw(img)
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        angle = rng.uniform(0, 2 * math.pi)
        draw.polygon(_rotate(_outline(shape, r), cx, cy, angle), fill=fill)
    return img


def _encode(img: Image.Image, rng: np.random.Generator) -> tuple[bytes, str]:
    buf = io.BytesIO()
    if rng.random() < _JPEG_SHARE:
        img.save(buf, format="JPEG", quality=int(rng.integers(80, 96)))
        return buf.getvalue(), "jpg"
    img.save(buf, format="PNG")
    return buf.getvalue(), "png"


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _write_shape_tree(root: str, per_class: int, seed: int, span: int) -> dict[str, int]:
    formats = {"png": 0, "jpeg": 0}
    for class_id, shape in enumerate(SHAPE_CLASSES):
        class_dir = os.path.join(root, shape)
        os.makedirs(class_dir, exist_ok=True)
        for i in range(per_class):
            # One generator per image: output does not depend on write order.
            rng = np.random.default_rng([seed, span, class_id, i])
            data, ext = _encode(draw_shape(shape, rng), rng)
            formats["jpeg" if ext == "jpg" else "png"] += 1
            _write(os.path.join(class_dir, f"{shape}_{i:05d}.{ext}"), data)
    return formats


@contextlib.contextmanager
def _complete_or_absent(out_dir: str) -> Iterator[str]:
    """Yields a staging folder that becomes `out_dir` only once fully written.

    An interrupted run leaves no half dataset at `out_dir` (the demo reuses an
    existing one), and an existing dataset is never mixed with a new one.
    """
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise FileExistsError(
            f"{out_dir} already exists and is not empty; choose a new --out or delete it"
        )
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".partial-", dir=parent)
    try:
        yield staging
        if os.path.exists(out_dir):
            os.rmdir(out_dir)  # empty (checked above)
        os.rename(staging, out_dir)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)


def make_shapes(out_dir: str, per_class: int = 300, seed: int = 0, spans: int = 1) -> dict:
    """Writes a synthetic shapes dataset, one folder per class.

    Args:
      out_dir: Dataset root; created if missing.
      per_class: Images per class (and per span).
      seed: Same seed gives byte-identical files.
      spans: 1 writes `<out>/<class>/...`; K > 1 writes `<out>/span-1 .. span-K/<class>/...`,
        each span drawn from different random streams.

    Returns:
      Summary: path, classes, per-class counts, total, formats, spans and the
      ImageExampleGen input pattern for this layout.
    """
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    if spans < 1:
        raise ValueError(f"spans must be >= 1, got {spans}")
    formats = {"png": 0, "jpeg": 0}
    with _complete_or_absent(out_dir) as staging:
        for span in range(1, spans + 1):
            root = staging if spans == 1 else os.path.join(staging, f"{SPAN_FOLDER_PREFIX}{span}")
            for fmt, n in _write_shape_tree(root, per_class, seed, span).items():
                formats[fmt] += n
    return {
        "path": out_dir,
        "classes": list(SHAPE_CLASSES),
        "counts": {shape: per_class * spans for shape in SHAPE_CLASSES},
        "total": per_class * spans * len(SHAPE_CLASSES),
        "formats": formats,
        "spans": spans,
        "pattern": FOLDER_PATTERN if spans == 1 else SPAN_FOLDER_PATTERN,
    }


def make_digits(out_dir: str, size: int = 32) -> dict:
    """Writes scikit-learn's 1,797 handwritten 8x8 digits as grayscale PNGs in folders `0`..`9`.

    Pixel values 0..16 are scaled to 0..255 and upscaled to `size` x `size`
    (bilinear) so they look like ordinary small images.
    """
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    digits = load_digits()
    counts: dict[str, int] = {}
    with _complete_or_absent(out_dir) as staging:
        for index, (pixels, target) in enumerate(zip(digits.images, digits.target, strict=True)):
            label = str(int(target))
            class_dir = os.path.join(staging, label)
            os.makedirs(class_dir, exist_ok=True)
            gray = np.round(pixels * (255.0 / 16.0)).astype(np.uint8)
            buf = io.BytesIO()
            img = Image.fromarray(gray, "L")
            if size != img.width:
                img = img.resize((size, size), Image.BILINEAR)
            img.save(buf, format="PNG")
            _write(os.path.join(class_dir, f"digit_{index:04d}.png"), buf.getvalue())
            counts[label] = counts.get(label, 0) + 1
    return {
        "path": out_dir,
        "classes": sorted(counts, key=int),
        "counts": dict(sorted(counts.items(), key=lambda kv: int(kv[0]))),
        "total": sum(counts.values()),
        "formats": {"png": sum(counts.values())},
        "spans": 1,
        "pattern": FOLDER_PATTERN,
    }
