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

import functools
import math
from collections.abc import Callable, Sequence
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

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, lambda: _decode_not_jpeg(encoded))


def _decode_not_jpeg(encoded: tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, 3] from PNG, GIF or BMP bytes (and any JPEG, at full scale)."""
    # channels=3 turns grayscale into RGB and drops an alpha channel, so
    # every stored layout reaches the model as RGB.
    return tf.io.decode_image(encoded, channels=3, expand_animations=False)


def _upright(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """One image decoded and turned upright as its EXIF orientation says."""
    image = _decode(encoded, image_size)
    return exif.apply_orientation(image, exif.orientation(encoded))


def resize_and_center_crop(image: tf.Tensor, image_size: int) -> tf.Tensor:
    """Aspect-preserving resize of the shorter side to S, then the central S x S.

    Takes uint8 or float [H, W, 3], or a batch [N, H, W, 3] of one size;
    returns float32 in the input's value range. Square images are simply resized.
    """
    shape = tf.shape(image)
    h, w = tf.cast(shape[-3], tf.float32), tf.cast(shape[-2], tf.float32)
    scale = image_size / tf.minimum(h, w)
    new_h = tf.maximum(image_size, tf.cast(tf.round(h * scale), tf.int32))
    new_w = tf.maximum(image_size, tf.cast(tf.round(w * scale), tf.int32))
    image = tf.image.resize(image, tf.stack([new_h, new_w]), antialias=True)
    top, left = (new_h - image_size) // 2, (new_w - image_size) // 2
    return tf.image.crop_to_bounding_box(image, top, left, image_size, image_size)


def _to_uint8(image: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def _decode_each(
    flat: tf.Tensor, decode: Callable[[tf.Tensor], tf.Tensor]
) -> tuple[tf.Tensor, tf.Tensor]:
    """Every image of string [N] decoded by `decode`: their pixels one after another
    (uint8 [sum of H * W * 3]) and their shapes (int32 [N, 3])."""
    n = tf.shape(flat)[0]
    values = tf.TensorArray(tf.uint8, size=n + 1, infer_shape=False, element_shape=[None])
    # An empty last element: eager TensorArrays cannot concat nothing (an empty batch).
    values = values.write(n, tf.zeros([0], tf.uint8))
    shapes = tf.TensorArray(tf.int32, size=n, element_shape=[3])

    def body(i: tf.Tensor, values: tf.TensorArray, shapes: tf.TensorArray) -> tuple:
        image = decode(flat[i])
        return i + 1, values.write(i, tf.reshape(image, [-1])), shapes.write(i, tf.shape(image))

    _, values, shapes = tf.while_loop(
        lambda i, *_: i < n, body, (0, values, shapes), parallel_iterations=16
    )
    return values.concat(), shapes.stack()


def _resize_all(values: tf.Tensor, shapes: tf.Tensor, image_size: int) -> tf.Tensor:
    """`_decode_each`'s images resized and cropped to uint8 [N, S, S, 3].

    When all have one shape they are resized as one batch (the same kernel
    per image, so the same pixels), and not at all when that shape is
    already S x S (a same-size antialiased resize is the identity).
    """
    n = tf.shape(shapes)[0]
    first = tf.concat([shapes, [[image_size, image_size, 3]]], axis=0)[0]

    def whole_batch() -> tf.Tensor:
        batch = tf.reshape(values, tf.concat([[n], first], axis=0))
        return tf.cond(
            tf.reduce_all(tf.equal(first[:2], image_size)),
            lambda: batch,
            lambda: _to_uint8(resize_and_center_crop(batch, image_size)),
        )

    def each_image() -> tf.Tensor:
        sizes = tf.reduce_prod(shapes, axis=1)

        def one(start_and_shape: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
            start, shape = start_and_shape
            image = tf.reshape(tf.slice(values, [start], [tf.reduce_prod(shape)]), shape)
            return _to_uint8(resize_and_center_crop(image, image_size))

        return tf.map_fn(
            one,
            (tf.cumsum(sizes, exclusive=True), shapes),
            fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.uint8),
            parallel_iterations=16,
        )

    same = tf.reduce_all(tf.equal(shapes, first))
    return tf.ensure_shape(
        tf.cond(same, whole_batch, each_image), [None, image_size, image_size, 3]
    )


def decode_to_pixels(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Decodes a batch of encoded images to uint8 [N, S, S, 3].

    Each image is decoded (large JPEGs at a reduced scale), turned upright as
    its EXIF orientation says (`models.cnn.exif`), resized on its shorter side
    to S keeping the aspect ratio, and centre-cropped to S x S.

    Only the decoding runs image by image, and a batch without a JPEG skips
    the JPEG branches and the EXIF scan (which gives 1 for other formats).
    The resize runs once for the batch when its images share a size
    (`_resize_all`).

    Args:
      image_bytes: string tensor of encoded PNG/JPEG/GIF/BMP bytes, shape [N]
        or [N, 1] (TFX schemas with `infer_feature_shape=True` give [N, 1]).
      image_size: side S of the square output.
    """
    return _batch_decoder(image_size)(tf.reshape(image_bytes, [-1]))


@functools.cache
def _batch_decoder(image_size: int) -> Callable[[tf.Tensor], tf.Tensor]:
    """`decode_to_pixels` for one image size as a tf.function traced once per process.

    TFX Transform traces `preprocessing_fn` nine times (analysis, schema
    inference, the saved transform graph, each Beam worker's graph); the
    decode graph's conditionals take most of each trace, so every trace after
    the first calls this function instead of building the graph again.
    """

    def decode(flat: tf.Tensor) -> tf.Tensor:
        values, shapes = tf.cond(
            tf.reduce_any(tf.io.is_jpeg(flat)),  # is_jpeg compares each string's first bytes
            lambda: _decode_each(flat, lambda one: _upright(one, image_size)),
            lambda: _decode_each(flat, _decode_not_jpeg),
        )
        return _resize_all(values, shapes, image_size)

    return tf.function(decode, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)


def to_unit_range(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 pixels to the model's input: float32 in [0, 1]."""
    return tf.cast(pixels, tf.float32) / 255.0


def _serialized_header(image_shape: tf.Tensor) -> tf.Tensor:
    """The bytes `tf.io.serialize_tensor` writes before a uint8 image's raw pixels
    (dtype, shape, and the tag and length of the pixel bytes, which come last)."""
    one = tf.io.serialize_tensor(tf.zeros(image_shape, tf.uint8))
    return tf.strings.substr(one, 0, tf.strings.length(one) - tf.reduce_prod(image_shape))


def encode_pixels(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 [N, S, S, 3] to string [N], one serialized tensor per image (raw bytes inside).

    Byte for byte `tf.io.serialize_tensor` of each image, built for the batch
    at once: the header of one image joined to each image's slice of the
    whole batch's serialized pixels.
    """
    shape = tf.shape(pixels)
    n, size = shape[0], tf.reduce_prod(shape[1:])
    whole = tf.io.serialize_tensor(pixels)
    starts = tf.strings.length(whole) - n * size + tf.range(n) * size
    raw = tf.strings.substr(whole, starts, tf.fill([n], size))
    return tf.strings.join([_serialized_header(shape[1:]), raw])


def decode_pixels(encoded: tf.Tensor, image_shape: Sequence[int]) -> tf.Tensor:
    """The inverse of `encode_pixels`: string [N] (or [N, 1]) to uint8 [N, *image_shape].

    A batch of `encode_pixels` strings is read as raw bytes after the header;
    any other serialization is parsed tensor by tensor.
    Raises InvalidArgumentError when a string does not hold a uint8 tensor of that shape.
    """
    shape = [int(d) for d in image_shape]
    flat = tf.reshape(encoded, [-1])
    header = _serialized_header(tf.constant(shape, tf.int32))
    start = tf.strings.length(header)

    def raw() -> tf.Tensor:
        size = math.prod(shape)
        return tf.reshape(
            tf.io.decode_raw(tf.strings.substr(flat, start, size), tf.uint8), [-1, *shape]
        )

    def each() -> tf.Tensor:
        return tf.map_fn(
            lambda one: tf.ensure_shape(tf.io.parse_tensor(one, tf.uint8), shape),
            flat,
            fn_output_signature=tf.TensorSpec(shape, tf.uint8),
        )

    ours = tf.logical_and(
        tf.equal(tf.strings.length(flat), start + math.prod(shape)),
        tf.equal(tf.strings.substr(flat, 0, start), header),
    )
    return tf.ensure_shape(tf.cond(tf.reduce_all(ours), raw, each), [None, *shape])


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
