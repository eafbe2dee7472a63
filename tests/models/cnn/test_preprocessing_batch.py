"""The transform's batch paths give the pixels and bytes of the image-by-image ones:
one resize for a batch of one size, none for S x S images, whole-batch pixel encoding,
and the raw read of `encode_pixels` strings beside parsing any other serialization."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from models.cnn import testing
from models.cnn.preprocessing import decode_pixels, decode_to_pixels, encode_pixels

_RNG = np.random.default_rng(7)


def _noise(h: int, w: int, channels: int = 3) -> np.ndarray:
    shape = (h, w, channels) if channels > 1 else (h, w)
    return _RNG.integers(0, 256, shape, dtype=np.uint8)


def _exif_jpeg(pixels: np.ndarray, orientation: int) -> bytes:
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def _one_by_one(encoded: list[bytes], size: int) -> np.ndarray:
    """The reference: each image alone, in a batch of its own."""
    return np.stack([decode_to_pixels(tf.constant([e]), size).numpy()[0] for e in encoded])


@pytest.mark.parametrize("size", [16, 28, 40])
def test_a_batch_of_one_size_gives_the_pixels_of_each_image_resized_alone(size):
    same = [testing.encode_image(_noise(28, 28), "png") for _ in range(4)]
    same += [testing.encode_image(_noise(28, 28, 1), "png")]  # gray, decoded to RGB

    batch = decode_to_pixels(tf.constant([[e] for e in same]), size).numpy()

    assert batch.shape == (5, size, size, 3) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch, _one_by_one(same, size))


def test_images_already_s_by_s_come_back_exactly():
    pixels = _noise(28, 28)

    out = decode_to_pixels(tf.constant([testing.encode_image(pixels, "png")] * 3), 28)

    np.testing.assert_array_equal(out.numpy(), np.stack([pixels] * 3))


def test_mixed_sizes_formats_and_exif_orientations_match_each_image_alone():
    upright = _noise(20, 30)
    encoded = [
        testing.encode_image(_noise(28, 28), "png"),  # a PNG before the JPEGs
        _exif_jpeg(upright, 6),
        _exif_jpeg(upright, 3),
        testing.encode_image(_noise(12, 50), "png"),
        testing.encode_image(_noise(28, 28, 4), "png"),
    ]

    batch = decode_to_pixels(tf.constant(encoded), 24).numpy()

    np.testing.assert_array_equal(batch, _one_by_one(encoded, 24))
    assert not np.array_equal(batch[1], batch[2])  # each JPEG turned as its own EXIF says


def test_an_empty_batch_gives_no_images_of_the_right_shape():
    out = decode_to_pixels(tf.constant([], tf.string), 8)

    assert out.shape == (0, 8, 8, 3) and out.dtype == tf.uint8
    assert decode_pixels(encode_pixels(out), (8, 8, 3)).shape == (0, 8, 8, 3)


@pytest.mark.parametrize("shape", [(3, 4, 4, 3), (1, 28, 28, 3), (2, 1, 1, 3), (0, 5, 5, 3)])
def test_encode_pixels_is_serialize_tensor_of_each_image_byte_for_byte(shape):
    pixels = tf.constant(_RNG.integers(0, 256, shape, dtype=np.uint8))

    encoded = encode_pixels(pixels).numpy().tolist()

    assert encoded == [tf.io.serialize_tensor(p).numpy() for p in pixels]


def test_decode_pixels_parses_other_serializations_of_the_same_tensor():
    pixels = _RNG.integers(0, 256, (2, 3, 3, 3), dtype=np.uint8)
    # uint8 values as int_val instead of the raw tensor_content encode_pixels writes.
    as_ints = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_UINT8,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=3)] * 3
        ),
        int_val=pixels[1].reshape(-1).tolist(),
    ).SerializeToString()
    mixed = tf.constant([encode_pixels(pixels[:1]).numpy()[0], as_ints])

    np.testing.assert_array_equal(decode_pixels(mixed, (3, 3, 3)).numpy(), pixels)
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_pixels(mixed, (3, 3, 1))
