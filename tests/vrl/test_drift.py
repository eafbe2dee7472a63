"""vrl/drift.py: header features agree with ingest's full check; output features by hand."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from components.image_example_gen.ops import check_image
from vrl import drift

_PX = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


CASES = {
    "png rgb": lambda: _encode(Image.fromarray(_PX), "PNG"),
    "png gray": lambda: _encode(Image.fromarray(_PX[..., 0]), "PNG"),
    "png gray+alpha": lambda: _encode(Image.fromarray(_PX).convert("LA"), "PNG"),
    "png rgba": lambda: _encode(Image.fromarray(np.dstack([_PX, _PX[..., :1]])), "PNG"),
    "png palette": lambda: _encode(Image.fromarray(_PX).convert("P"), "PNG"),
    "png palette+trns": lambda: _encode(Image.fromarray(_PX).convert("P"), "PNG", transparency=0),
    "jpeg": lambda: _encode(Image.fromarray(_PX), "JPEG"),
    "jpeg gray": lambda: _encode(Image.fromarray(_PX[..., 0]), "JPEG"),
    "gif": lambda: _encode(Image.fromarray(_PX).convert("P"), "GIF"),
    "bmp": lambda: _encode(Image.fromarray(_PX), "BMP"),
    "bmp rgba": lambda: _encode(Image.fromarray(np.dstack([_PX, _PX[..., :1]])), "BMP"),
    "bmp gray": lambda: _encode(Image.fromarray(_PX[..., 0]), "BMP"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_header_features_match_what_ingest_records(case):
    data = CASES[case]()
    info = check_image(data)
    got = drift.image_features(data)
    assert (got["height"], got["width"], got["channels"], got["format"]) == (
        info.height,
        info.width,
        info.channels,
        info.format,
    )
    assert got["bytes"] == len(data)


def test_not_an_image_is_undecodable():
    assert drift.image_features(b"hello") == {"format": drift.UNDECODABLE, "bytes": 5}


def test_output_features_by_hand():
    rows = drift.rows([b"x", b"y"], np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]]), ["a", "b"])
    assert rows[0]["predicted_class"] == "a" and rows[0]["top1_probability"] == 0.7
    assert rows[0]["margin"] == pytest.approx(0.5)
    assert rows[1]["margin"] == pytest.approx(0.0)
    assert rows[1]["entropy"] == pytest.approx(np.log(2))
