"""EXIF orientation read and applied inside the TensorFlow graph.

`tf.io.decode_jpeg` ignores EXIF, so a phone photo stored sideways with an
Orientation tag reaches the model sideways. Normalising at ingest would fix
the training data only: serving clients send the camera's bytes as they are.
Doing it here, in the transform graph that both the Trainer's input pipeline
and the exported serving signatures run, gives the same pixels at training
and serving by construction.

How: the Orientation entry of IFD0 is 12 bytes, tag 0x0112, type SHORT (3),
count 1, then the value, written in the TIFF header's byte order. Within the
first `SCAN_BYTES` bytes, after the APP1 "Exif\\0\\0" marker, the first run
of those 8 fixed bytes (little- or big-endian) is the entry; its next two
bytes are the value 1..8. IFD0 precedes the thumbnail's IFD1, so the first
match is the image's own tag. Files without it (PNG, JPEG without EXIF) get 1.
"""

from __future__ import annotations

import tensorflow as tf

SCAN_BYTES = 65536  # an APP1 segment is at most 64 KiB
_EXIF = b"Exif\x00\x00"
_ENTRY_LE = b"\x12\x01\x03\x00\x01\x00\x00\x00"  # tag, type, count: Intel order ("II")
_ENTRY_BE = b"\x01\x12\x00\x03\x00\x00\x00\x01"  # Motorola order ("MM")


def _first_match(data: tf.Tensor, n: tf.Tensor, pattern: bytes) -> tf.Tensor:
    """Index of the first occurrence of `pattern` in data[:n + len], or -1."""
    hits = tf.ones([n], tf.bool)
    for k, byte in enumerate(pattern):
        hits = tf.logical_and(hits, tf.equal(data[k : k + n], byte))
    hits = tf.concat([hits, [False]], axis=0)  # argmax needs one element, even for b""
    return tf.where(tf.reduce_any(hits), tf.cast(tf.argmax(tf.cast(hits, tf.int32)), tf.int32), -1)


def orientation(encoded: tf.Tensor) -> tf.Tensor:
    """EXIF orientation (int32 scalar, 1..8) of one encoded image; 1 when absent."""
    head = tf.io.decode_raw(tf.strings.substr(encoded, 0, SCAN_BYTES), tf.uint8)
    data = tf.concat([head, tf.zeros([16], tf.uint8)], axis=0)
    n = tf.shape(head)[0]
    exif_at = _first_match(data, n, _EXIF)
    le_at = _first_match(data, n, _ENTRY_LE)
    be_at = _first_match(data, n, _ENTRY_BE)
    b = tf.cast(data, tf.int32)
    value_le = b[tf.maximum(le_at, 0) + 8] + 256 * b[tf.maximum(le_at, 0) + 9]
    value_be = 256 * b[tf.maximum(be_at, 0) + 8] + b[tf.maximum(be_at, 0) + 9]
    use_le = tf.logical_and(le_at > exif_at, tf.logical_or(be_at < 0, le_at < be_at))
    use_be = tf.logical_and(be_at > exif_at, tf.logical_not(use_le))
    value = tf.where(use_le, value_le, tf.where(use_be, value_be, 1))
    is_jpeg = tf.io.is_jpeg(encoded)
    valid = tf.logical_and(is_jpeg, tf.logical_and(exif_at >= 0, value >= 1))
    return tf.where(tf.logical_and(valid, value <= 8), value, 1)


def apply_orientation(image: tf.Tensor, value: tf.Tensor) -> tf.Tensor:
    """Turns a decoded [H, W, C] image upright as EXIF `value` (1..8) says.

    Same mapping as PIL's `ImageOps.exif_transpose`: 2 mirror, 3 rotate 180,
    4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
    counter-clockwise.
    """
    branches = [
        lambda: image,
        lambda: tf.image.flip_left_right(image),
        lambda: tf.image.rot90(image, 2),
        lambda: tf.image.flip_up_down(image),
        lambda: tf.image.transpose(image),
        lambda: tf.image.rot90(image, 3),
        lambda: tf.image.rot90(tf.image.transpose(image), 2),
        lambda: tf.image.rot90(image, 1),
    ]
    return tf.switch_case(tf.clip_by_value(value, 1, 8) - 1, branches)
