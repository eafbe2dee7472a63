"""preprocessing_fn: any stored layout decodes to RGB [N, S, S, 3] pixels the model reads in [0, 1]."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from contracts import features
from models.cnn import testing
from models.cnn.preprocessing import (
    IMAGE_XF_KEY,
    LABEL_XF_KEY,
    decode_pixels,
    encode_pixels,
    image_size_from_config,
    preprocessing_fn,
    to_unit_range,
)


def _model_input(out: dict, size: int) -> np.ndarray:
    """The transform's image output as the Trainer and the signatures read it."""
    return to_unit_range(decode_pixels(out[IMAGE_XF_KEY], (size, size, 3))).numpy()


def _encoded_batch() -> list[bytes]:
    gray = np.full((20, 30), 200, dtype=np.uint8)
    rgb = np.zeros((40, 24, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[..., 2] = 255  # blue, half transparent
    rgba[..., 3] = 128
    return [
        testing.encode_image(gray, "png"),
        testing.encode_image(rgb, "jpeg"),
        testing.encode_image(rgba, "png"),
    ]


def test_preprocessing_fn_decodes_gray_png_rgb_jpeg_and_rgba_png_to_rgb_in_unit_range():
    inputs = {
        features.IMAGE_KEY: tf.constant([[b] for b in _encoded_batch()]),
        features.LABEL_KEY: tf.constant([[0], [1], [2]], dtype=tf.int64),
    }

    out = preprocessing_fn(inputs, {"image_size": 8})

    assert out[IMAGE_XF_KEY].dtype == tf.string and out[IMAGE_XF_KEY].shape == (3,)
    image = _model_input(out, 8)
    assert image.shape == (3, 8, 8, 3)
    assert image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    np.testing.assert_allclose(image[0], 200 / 255, atol=1e-3)  # gray replicated to RGB
    assert image[1, ..., 0].mean() > 0.9 and image[1, ..., 1:].max() < 0.15  # red JPEG
    np.testing.assert_allclose(image[2], np.broadcast_to([0, 0, 1], (8, 8, 3)), atol=1e-3)
    np.testing.assert_array_equal(out[LABEL_XF_KEY].numpy(), [0, 1, 2])
    assert out[LABEL_XF_KEY].dtype == tf.int64


def test_preprocessing_fn_defaults_to_32_pixels_and_works_without_custom_config():
    inputs = {features.IMAGE_KEY: tf.constant([[_encoded_batch()[0]]])}

    out = preprocessing_fn(inputs)

    assert _model_input(out, 32).shape == (1, 32, 32, 3)
    assert LABEL_XF_KEY not in out


@pytest.mark.parametrize("bad", [0, 3, "32", 32.0, True])
def test_image_size_from_config_rejects_non_integer_or_tiny_sizes(bad):
    with pytest.raises(ValueError, match="image_size"):
        image_size_from_config({"image_size": bad})


def _pil_bytes(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "encoded, expected_rgb",
    [
        # 16-bit grayscale PNG: 0x8000 scales to ~0.5, not clipped to 1.
        (_pil_bytes(Image.fromarray(np.full((6, 6), 32768, np.uint16), "I;16"), "PNG"), 0.5),
        # CMYK JPEG (as some print workflows write): decoded as red RGB.
        (_pil_bytes(Image.new("CMYK", (6, 6), (0, 255, 255, 0)), "JPEG"), (1.0, 0.0, 0.0)),
    ],
    ids=["png_16bit", "jpeg_cmyk"],
)
def test_preprocessing_fn_handles_16bit_png_and_cmyk_jpeg(encoded, expected_rgb):
    out = preprocessing_fn({features.IMAGE_KEY: tf.constant([[encoded]])}, {"image_size": 4})

    image = _model_input(out, 4)
    assert image.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(image.reshape(-1, 3).mean(axis=0), expected_rgb, atol=0.02)


def test_pixels_round_trip_one_byte_per_value_and_a_wrong_shape_is_refused():
    pixels = tf.constant(np.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3) % 256, tf.uint8)

    encoded = encode_pixels(pixels)

    assert encoded.shape == (2,) and all(len(e) < 4 * 4 * 3 + 32 for e in encoded.numpy())
    np.testing.assert_array_equal(decode_pixels(encoded, (4, 4, 3)).numpy(), pixels.numpy())
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_pixels(encoded, (8, 8, 3))
