"""Image limits and the header check shared by ingest and the server."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from contracts import images


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_header_is_read_without_decoding_and_limits_refuse_absurd_dimensions():
    header = images.open_image(_png(40, 20))
    assert header.size == (40, 20)
    images.check_dimensions(40, 20, images.ImageLimits())
    with pytest.raises(images.ImageRejected) as caught:
        images.check_dimensions(40, 20, images.ImageLimits(max_side=32))
    assert caught.value.reason == images.ABSURD_DIMENSIONS and "max_side=32" in caught.value.detail
    with pytest.raises(images.ImageRejected, match=images.ABSURD_DIMENSIONS):
        images.check_dimensions(4, 20, images.ImageLimits(min_side=8))
    with pytest.raises(images.ImageRejected, match="max_pixels"):
        images.check_dimensions(40, 20, images.ImageLimits(max_pixels=500))


def test_bytes_that_are_no_image_and_bad_limits_are_named():
    with pytest.raises(images.ImageRejected) as caught:
        images.open_image(b"plain text")
    assert caught.value.reason == images.NOT_AN_IMAGE
    with pytest.raises(ValueError, match="min_side <= max_side"):
        images.ImageLimits(min_side=10, max_side=5)
