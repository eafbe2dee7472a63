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
Each search is one `tf.strings.split` on the byte string (a substring search
in C++), so the scan costs microseconds per image, not a pass of element-wise
comparisons per pattern byte over the whole window.
"""

from __future__ import annotations

import tensorflow as tf

SCAN_BYTES = 65536  # an APP1 segment is at most 64 KiB
_EXIF = b"Exif\x00\x00"
_ENTRY_LE = b"\x12\x01\x03\x00\x01\x00\x00\x00"  # tag, type, count: Intel order ("II")
_ENTRY_BE = b"\x01\x12\x00\x03\x00\x00\x00\x01"  # Motorola order ("MM")


def _find(data: tf.Tensor, pattern: bytes) -> tuple[tf.Tensor, tf.Tensor]:
    """(index of the first `pattern` in the scalar string `data` or -1, the bytes after it)."""
    parts = tf.strings.split(data, sep=pattern, maxsplit=1)
    found = tf.size(parts) > 1
    at = tf.where(found, tf.strings.length(parts[0]), -1)
    return at, tf.where(found, parts[-1], "")


def _value(after_entry: tf.Tensor, little_endian: bool) -> tf.Tensor:
    """The SHORT value in the first two bytes after an entry's 8 fixed bytes (0 if short)."""
    raw = tf.io.decode_raw(tf.strings.substr(after_entry, 0, 2), tf.uint8)
    b = tf.cast(tf.concat([raw, tf.zeros([2], tf.uint8)], axis=0), tf.int32)
    return b[0] + 256 * b[1] if little_endian else 256 * b[0] + b[1]


def orientation(encoded: tf.Tensor) -> tf.Tensor:
    """EXIF orientation (int32 scalar, 1..8) of one encoded image; 1 when absent."""
    head = tf.strings.substr(encoded, 0, SCAN_BYTES)
    exif_at, after_exif = _find(head, _EXIF)
    le_at, after_le = _find(after_exif, _ENTRY_LE)
    be_at, after_be = _find(after_exif, _ENTRY_BE)
    use_le = tf.logical_and(le_at >= 0, tf.logical_or(be_at < 0, le_at < be_at))
    use_be = tf.logical_and(be_at >= 0, tf.logical_not(use_le))
    value = tf.where(use_le, _value(after_le, True), tf.where(use_be, _value(after_be, False), 1))
    valid = tf.logical_and(tf.io.is_jpeg(encoded), exif_at >= 0)
    return tf.where(tf.logical_and(valid, tf.logical_and(value >= 1, value <= 8)), value, 1)


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
