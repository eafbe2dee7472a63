"""Image dimension limits and the header check, shared by ingest and the server.

ImageExampleGen quarantines an image outside `ImageLimits`; the local server
refuses the same image from its encoded header before anything decodes it. The
header is read with Pillow (no TensorFlow), pixels are never decoded here.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import warnings

from PIL import Image, UnidentifiedImageError

# Reasons these checks give (stable strings: they appear in reports and metrics;
# ImageExampleGen's other quarantine reasons are in its ops module).
NOT_AN_IMAGE = "not_an_image"
ABSURD_DIMENSIONS = "absurd_dimensions"
CORRUPT = "corrupt"

# Errors Pillow raises on broken files (it has no single base class for them).
PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


class ImageRejected(Exception):
    """An input that must be quarantined; `reason` is one of ImageExampleGen's REASONS."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class ImageLimits:
    """Dimension limits; anything outside is `absurd_dimensions`."""

    min_side: int = 8
    max_side: int = 16384
    max_pixels: int = 50_000_000

    def __post_init__(self) -> None:
        if not 1 <= self.min_side <= self.max_side:
            raise ValueError(
                f"ImageLimits: need 1 <= min_side <= max_side, got {self.min_side}, {self.max_side}"
            )
        if self.max_pixels < self.min_side * self.min_side:
            raise ValueError(f"ImageLimits: max_pixels={self.max_pixels} is below min_side**2")


def check_dimensions(width: int, height: int, limits: ImageLimits) -> None:
    """Raises ImageRejected(absurd_dimensions) outside `limits` (ingest and serving)."""
    if min(width, height) < limits.min_side:
        raise ImageRejected(
            ABSURD_DIMENSIONS, f"{width}x{height} has a side below min_side={limits.min_side}"
        )
    if max(width, height) > limits.max_side:
        raise ImageRejected(
            ABSURD_DIMENSIONS, f"{width}x{height} has a side above max_side={limits.max_side}"
        )
    if width * height > limits.max_pixels:
        raise ImageRejected(
            ABSURD_DIMENSIONS, f"{width}x{height} is above max_pixels={limits.max_pixels}"
        )


def open_image(data: bytes) -> Image.Image:
    """Pillow image over encoded bytes, header only (pixels are decoded lazily)."""
    # Our own limits decide; Pillow's bomb warning would only add noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except UnidentifiedImageError as e:
            raise ImageRejected(NOT_AN_IMAGE, "Pillow cannot identify an image format") from e
        except Image.DecompressionBombError as e:
            raise ImageRejected(ABSURD_DIMENSIONS, str(e)) from e
        except PIL_ERRORS as e:
            raise ImageRejected(CORRUPT, f"header: {e}") from e
