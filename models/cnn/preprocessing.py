"""TFX Transform `preprocessing_fn`: decode, orient, resize and crop images in the graph.

The transform's image output is the finished model-size image as uint8
pixels, serialized as one `tf.io.serialize_tensor` string per example
(`encode_pixels`): 1 byte per value, so Transform can materialise it
(27 KB per 96 px image, 150 KB at 224 px, before gzip) and the Trainer
trains on decoded images without decoding a JPEG. The same graph runs in
the exported serving signatures, followed by the same `decode_pixels` and
`to_unit_range`, so training and serving preprocessing cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from contracts import features
from models.cnn import exif

DEFAULT_IMAGE_SIZE = 32
IMAGE_XF_KEY = features.transformed_name(features.IMAGE_KEY)
LABEL_XF_KEY = features.transformed_name(features.LABEL_KEY)


def image_size_from_config(custom_config: dict[str, Any] | None) -> int:
    """Reads `image_size` from a Transform/Trainer custom_config (default 32)."""
    size = (custom_config or {}).get("image_size", DEFAULT_IMAGE_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or size < 4:
        raise ValueError(f"custom_config['image_size'] must be an int >= 4, got {size!r}")
    return size


def _decode(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """uint8 [H, W, 3]; large JPEGs decoded at 1/2, 1/4 or 1/8 scale in the DCT domain.

    libjpeg's scaled decoding skips most of the work for a 4000 px photo that
    becomes 224 px; the scale keeps the shorter side >= 2 S, so the
    antialiased resize that follows still sees every detail it keeps.
    """

    def jpeg() -> tf.Tensor:
        short = tf.reduce_min(tf.image.extract_jpeg_shape(encoded)[:2])
        index = tf.add_n([tf.cast(short // r >= 2 * image_size, tf.int32) for r in (2, 4, 8)])
        return tf.switch_case(
            index,
            [lambda r=r: tf.io.decode_jpeg(encoded, channels=3, ratio=r) for r in (1, 2, 4, 8)],
        )

    def other() -> tf.Tensor:
        # channels=3 turns grayscale into RGB and drops an alpha channel, so
        # every stored layout reaches the model as RGB.
        return tf.io.decode_image(encoded, channels=3, expand_animations=False)

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, other)


def resize_and_center_crop(image: tf.Tensor, image_size: int) -> tf.Tensor:
    """Aspect-preserving resize of the shorter side to S, then the central S x S.

    Takes uint8 or float [H, W, 3]; returns float32 in the input's value range.
    Square images are simply resized.
    """
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    scale = image_size / tf.minimum(h, w)
    new_h = tf.maximum(image_size, tf.cast(tf.round(h * scale), tf.int32))
    new_w = tf.maximum(image_size, tf.cast(tf.round(w * scale), tf.int32))
    image = tf.image.resize(image, tf.stack([new_h, new_w]), antialias=True)
    top, left = (new_h - image_size) // 2, (new_w - image_size) // 2
    return tf.image.crop_to_bounding_box(image, top, left, image_size, image_size)


def decode_to_pixels(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Decodes a batch of encoded images to uint8 [N, S, S, 3].

    Each image is decoded (large JPEGs at a reduced scale), turned upright as
    its EXIF orientation says (`models.cnn.exif`), resized on its shorter side
    to S keeping the aspect ratio, and centre-cropped to S x S.

    Args:
      image_bytes: string tensor of encoded PNG/JPEG/GIF/BMP bytes, shape [N]
        or [N, 1] (TFX schemas with `infer_feature_shape=True` give [N, 1]).
      image_size: side S of the square output.
    """
    flat = tf.reshape(image_bytes, [-1])

    def _one(encoded: tf.Tensor) -> tf.Tensor:
        image = _decode(encoded, image_size)
        image = exif.apply_orientation(image, exif.orientation(encoded))
        # Resizing the uint8 image (float out) keeps a full-size float copy out of memory.
        image = resize_and_center_crop(image, image_size)
        return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)

    return tf.map_fn(
        _one,
        flat,
        fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.uint8),
        parallel_iterations=16,
    )


def to_unit_range(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 pixels to the model's input: float32 in [0, 1]."""
    return tf.cast(pixels, tf.float32) / 255.0


def encode_pixels(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 [N, S, S, 3] to string [N], one serialized tensor per image (raw bytes inside)."""
    return tf.map_fn(tf.io.serialize_tensor, pixels, fn_output_signature=tf.string)


def decode_pixels(encoded: tf.Tensor, image_shape: Sequence[int]) -> tf.Tensor:
    """The inverse of `encode_pixels`: string [N] (or [N, 1]) to uint8 [N, *image_shape].

    Raises InvalidArgumentError when a string does not hold a uint8 tensor of that shape.
    """
    shape = [int(d) for d in image_shape]

    def _one(one: tf.Tensor) -> tf.Tensor:
        return tf.ensure_shape(tf.io.parse_tensor(one, tf.uint8), shape)

    return tf.map_fn(
        _one, tf.reshape(encoded, [-1]), fn_output_signature=tf.TensorSpec(shape, tf.uint8)
    )


def preprocessing_fn(
    inputs: dict[str, tf.Tensor], custom_config: dict[str, Any] | None = None
) -> dict[str, tf.Tensor]:
    """Called by name by TFX Transform: raw features to model inputs.

    Args:
      inputs: raw features (dense, shape [N, 1]) as written by ImageExampleGen.
      custom_config: optional; `image_size` (int, default 32).

    Returns:
      `image_xf` string [N]: each image as uint8 [S, S, 3] pixels (`encode_pixels`;
      read back with `decode_pixels`, then `to_unit_range` for the model), and
      `label_xf` int64 [N].
      The label is only passed through; at serving time it is absent and TFT
      prunes it away.
    """
    image_size = image_size_from_config(custom_config)
    pixels = decode_to_pixels(inputs[features.IMAGE_KEY], image_size)
    outputs = {IMAGE_XF_KEY: encode_pixels(pixels)}
    if features.LABEL_KEY in inputs:
        outputs[LABEL_XF_KEY] = tf.cast(tf.reshape(inputs[features.LABEL_KEY], [-1]), tf.int64)
    return outputs
