"""Image inputs checked from their encoded header before anything decodes them.

The dimension rules are ImageExampleGen's (`contracts.images`): the same
`ImageLimits` and the same absurd-dimensions check as at ingest, so a
picture the pipeline would quarantine is not decoded by the server either.
Only the upper limits apply here; a tiny image costs nothing to decode.
"""

from __future__ import annotations

import functools

from contracts import features, images
from serving.errors import invalid
from serving.limits import RequestBudget, RequestLimits, exhausted

# Leading bytes of the formats tf.io.decode_image reads (PNG, JPEG, GIF, BMP, WEBP).
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")
_DECODED_CHANNELS = 4  # RGBA at most


@functools.lru_cache(maxsize=8)
def image_limits(limits: RequestLimits) -> images.ImageLimits:
    """Ingest's ImageLimits with the request limits' overrides (min_side does not apply)."""
    default = images.ImageLimits()
    return images.ImageLimits(
        min_side=1,
        max_side=limits.max_image_side or default.max_side,
        max_pixels=limits.max_image_pixels or default.max_pixels,
    )


def is_image_input(alias: str) -> bool:
    """Whether a string input carries encoded images (the CNN's `image_bytes`)."""
    return alias == features.SERVING_INPUT_KEY or alias.endswith("_" + features.SERVING_INPUT_KEY)


def check_image(where: str, data: bytes, budget: RequestBudget) -> None:
    """Reads the header of one encoded image; refuses what would cost too much to decode.

    Every image counts against --max-images (the model runs each at its full input
    size); its decoded pixels (width x height x channels x bytes per sample) against
    --max-decoded-mb. Animated images are refused as ingest refuses them: TensorFlow's
    decode_image decodes every frame of a GIF even when it keeps only the first.
    Bytes that are not an image format TensorFlow decodes are left to the model,
    which answers INVALID_ARGUMENT ("Unknown image file format") without decoding.
    """
    budget.add_image(where)
    if not data.startswith(_IMAGE_MAGIC):
        return
    try:
        image = images.open_image(data)
        frames = getattr(image, "n_frames", 1) if getattr(image, "is_animated", False) else 1
    except images.ImageRejected as e:
        if e.reason == images.ABSURD_DIMENSIONS:
            raise exhausted(f"{where}: image dimensions refused ({e.detail})") from e
        raise invalid(f"{where}: image header unreadable ({e.reason}: {e.detail})") from e
    except images.PIL_ERRORS as e:  # a frame header past the first is broken
        raise invalid(f"{where}: image header unreadable ({e})") from e
    width, height = image.size
    try:
        images.check_dimensions(width, height, image_limits(budget.limits))
    except images.ImageRejected as e:
        raise exhausted(f"{where}: image dimensions refused ({e.detail})") from e
    if frames > 1:
        raise invalid(
            f"{where}: animated {image.format} with {frames} frames; send one frame "
            "(animated images are refused, as at ingest)"
        )
    sample_bytes = 2 if "16" in image.mode or image.mode.startswith("I") else 1
    budget.add_bytes(where, width * height * _DECODED_CHANNELS * sample_bytes)


def check_example_images(where: str, serialized: bytes, budget: RequestBudget) -> None:
    """The image feature of one serialized tf.Example, checked as `check_image`."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    try:
        example.ParseFromString(serialized)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError; the model reports it
        return
    feature = example.features.feature.get(features.IMAGE_KEY)
    if feature is None:
        return
    for i, data in enumerate(feature.bytes_list.value):
        check_image(f"{where} feature '{features.IMAGE_KEY}'[{i}]", data, budget)
