"""Odd and broken image fixtures for ImageExampleGen tests, generated in tmp_path."""

from __future__ import annotations

import io
import struct
import types
import zlib

import numpy as np
import pytest
from PIL import Image

from components.image_example_gen import ops


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def rgb(seed: int = 0, h: int = 20, w: int = 30) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def png_with_header_size(width: int, height: int) -> bytes:
    """A valid small PNG whose IHDR claims width x height (decompression-bomb header)."""
    data = bytearray(encode(rgb(), "PNG"))
    # Signature (8) + length (4) + b"IHDR" (4): width and height follow.
    ihdr = bytes(data[12:29])
    patched = ihdr[:4] + struct.pack(">II", width, height) + ihdr[12:]
    data[12:29] = patched
    data[29:33] = struct.pack(">I", zlib.crc32(patched) & 0xFFFFFFFF)
    return bytes(data)


def flip_middle_byte(data: bytes) -> bytes:
    """Damages the compressed pixel data (and so the chunk CRC) of a PNG."""
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]


def animated_gif() -> bytes:
    frames = [rgb(i).convert("P") for i in range(3)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:])


def png16() -> bytes:
    pixels = (np.arange(20 * 30).reshape(20, 30) * 100).astype(np.uint16)
    return encode(Image.fromarray(pixels), "PNG")


# name -> (bytes, expected reason or None for accepted, expected channels when accepted)
GOOD_JPEG = encode(rgb(1), "JPEG", quality=90)
CASES: dict[str, tuple[bytes, str | None, int | None]] = {
    "rgb.png": (encode(rgb(0), "PNG"), None, 3),
    "rgb.jpg": (GOOD_JPEG, None, 3),
    "gray.png": (encode(rgb(2).convert("L"), "PNG"), None, 1),
    "gray.jpg": (encode(rgb(3).convert("L"), "JPEG"), None, 1),
    "png16.png": (png16(), None, 1),
    "cmyk.jpg": (encode(rgb(4).convert("CMYK"), "JPEG"), None, 3),
    "palette.png": (encode(rgb(5).convert("P"), "PNG"), None, 3),
    "palette_alpha.png": (encode(rgb(6).convert("P"), "PNG", transparency=0), None, 4),
    "rgba.png": (encode(rgb(7).convert("RGBA"), "PNG"), None, 4),
    "gray_alpha.png": (encode(rgb(8).convert("LA"), "PNG"), None, 2),
    "rgb.bmp": (encode(rgb(9), "BMP"), None, 3),
    "still.gif": (encode(rgb(10).convert("P"), "GIF"), None, 3),
    "empty.png": (b"", ops.EMPTY, None),
    "text.png": (b"this is a text file, not a PNG\n", ops.NOT_AN_IMAGE, None),
    "truncated.jpg": (GOOD_JPEG[: len(GOOD_JPEG) // 2], ops.TRUNCATED, None),
    "bad_idat.png": (flip_middle_byte(encode(rgb(11), "PNG")), ops.CORRUPT, None),
    "image.webp": (encode(rgb(12), "WEBP"), ops.UNSUPPORTED_FORMAT, None),
    "image.tiff": (encode(rgb(13), "TIFF"), ops.UNSUPPORTED_FORMAT, None),
    "animated.gif": (animated_gif(), ops.UNSUPPORTED_FORMAT, None),
    "line.png": (encode(Image.new("L", (40000, 1)), "PNG"), ops.ABSURD_DIMENSIONS, None),
    "bomb.png": (png_with_header_size(100_000, 100_000), ops.ABSURD_DIMENSIONS, None),
    "tiny.png": (encode(rgb(14, 4, 4), "PNG"), ops.ABSURD_DIMENSIONS, None),
}


BAD_CASES = sorted(name for name, case in CASES.items() if case[1] is not None)
GOOD_CASES = sorted(name for name, case in CASES.items() if case[1] is None)


def pytest_generate_tests(metafunc):
    """`bad_case` / `good_case` arguments run once per fixture file name."""
    if "bad_case" in metafunc.fixturenames:
        metafunc.parametrize("bad_case", BAD_CASES)
    if "good_case" in metafunc.fixturenames:
        metafunc.parametrize("good_case", GOOD_CASES)


@pytest.fixture(scope="session")
def imaging():
    """The fixture cases and the helpers that made them."""
    return types.SimpleNamespace(
        cases=CASES, good_jpeg=GOOD_JPEG, encode=encode, rgb=rgb, png16=png16
    )


@pytest.fixture
def odd_tree(tmp_path):
    """Class-per-folder tree: every CASES file under `odd/`, plus clean `a/` and `b/` images.

    Returns (root, {relative path: expected reason or None}).
    """
    expected: dict[str, str | None] = {}
    for name, (data, reason, _) in CASES.items():
        path = tmp_path / "odd" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[f"odd/{name}"] = reason
    for cls in ("a", "b"):
        for i in range(4):
            path = tmp_path / cls / f"{cls}{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode(rgb(100 + i + (10 if cls == "b" else 0)), "PNG"))
            expected[f"{cls}/{cls}{i}.png"] = None
    return tmp_path, expected
