"""Pure functions of ImageExampleGen: decode-check an image, build its tf.Example,
and the label vocabulary. No TFX or Beam here.

Accepted formats are those `tf.io.decode_image` reads: PNG (8 and 16 bit,
grayscale, gray+alpha, RGB, RGBA, palette), JPEG (grayscale, RGB, CMYK),
BMP and single-frame GIF. Bytes are stored unchanged (so `sha256` is the
file's own hash); `channels` is what `tf.io.decode_image(channels=0)` returns
(1, 2, 3 or 4). WEBP, TIFF, animated GIF and anything else are quarantined as
`unsupported_format`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import warnings
from collections.abc import Iterable, Sequence

import tensorflow as tf
from PIL import Image

from contracts import features
from contracts.images import (
    ABSURD_DIMENSIONS,
    CORRUPT,
    NOT_AN_IMAGE,
    PIL_ERRORS,
    ImageLimits,
    ImageRejected,
    check_dimensions,
    open_image,
)

# Pillow format name -> value of the `format` feature.
ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpeg", "BMP": "bmp", "GIF": "gif"}

# Quarantine reasons (stable strings: they appear in reports and metrics); the
# header and dimension checks' own reasons are in contracts.images.
EMPTY = "empty"
UNSUPPORTED_FORMAT = "unsupported_format"
TRUNCATED = "truncated"
UNDECODABLE = "undecodable_by_tensorflow"
MISSING = "missing"
UNREADABLE = "unreadable"
BAD_RECORD = "bad_record"
UNKNOWN_LABEL = "unknown_label"
UNDECODABLE_NAME = "undecodable_name"  # file or folder name not UTF-8
BAD_MANIFEST_ROW = "bad_manifest_row"  # CSV row with a wrong field count or no path
NOT_A_TFRECORD = "not_a_tfrecord"  # a TFRecord input that fails before its first record
REASONS = (
    EMPTY,
    NOT_AN_IMAGE,
    UNSUPPORTED_FORMAT,
    ABSURD_DIMENSIONS,
    TRUNCATED,
    CORRUPT,
    UNDECODABLE,
    MISSING,
    UNREADABLE,
    BAD_RECORD,
    UNKNOWN_LABEL,
    UNDECODABLE_NAME,
    BAD_MANIFEST_ROW,
    NOT_A_TFRECORD,
)


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What the check learned about an accepted image."""

    format: str
    height: int
    width: int
    channels: int
    sha256: str


def _pillow_decode(data: bytes) -> None:
    """Full decode with Pillow: verify() checks structure/CRCs, load() the pixels."""
    for step in ("verify", "load"):
        img = open_image(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                getattr(img, step)()
        except PIL_ERRORS as e:
            reason = TRUNCATED if "truncated" in str(e).lower() else CORRUPT
            raise ImageRejected(reason, f"{step}: {e}") from e


def check_image(data: bytes, limits: ImageLimits | None = None) -> ImageInfo:
    """Decode-checks encoded image bytes.

    Returns:
      ImageInfo of the stored bytes.

    Raises:
      ImageRejected: with the quarantine reason and a human-readable detail.
    """
    limits = limits or ImageLimits()
    if not data:
        raise ImageRejected(EMPTY, "0 bytes")
    img = open_image(data)
    pil_format = img.format or "unknown"
    if pil_format not in ALLOWED_FORMATS:
        raise ImageRejected(
            UNSUPPORTED_FORMAT,
            f"{pil_format}; expected one of {', '.join(sorted(ALLOWED_FORMATS))}",
        )
    width, height = img.size
    check_dimensions(width, height, limits)
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        raise ImageRejected(UNSUPPORTED_FORMAT, f"animated {pil_format} with {frames} frames")
    _pillow_decode(data)
    try:
        decoded = tf.io.decode_image(data, channels=0, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
        raise ImageRejected(UNDECODABLE, e.message.splitlines()[0][:200]) from e
    tf_height, tf_width, channels = (int(d) for d in decoded.shape)
    if (tf_height, tf_width) != (height, width):
        raise ImageRejected(
            CORRUPT,
            f"header says {width}x{height}, tensorflow decoded {tf_width}x{tf_height}",
        )
    return ImageInfo(
        format=ALLOWED_FORMATS[pil_format],
        height=height,
        width=width,
        channels=channels,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int_feature(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def build_example(data: bytes, info: ImageInfo, label: int, label_name: str) -> tf.train.Example:
    """tf.Example with exactly `features.RAW_FEATURE_KEYS`."""
    feature = {
        features.IMAGE_KEY: _bytes_feature(data),
        features.LABEL_KEY: _int_feature(label),
        features.LABEL_NAME_KEY: _bytes_feature(label_name.encode("utf-8")),
        features.HEIGHT_KEY: _int_feature(info.height),
        features.WIDTH_KEY: _int_feature(info.width),
        features.CHANNELS_KEY: _int_feature(info.channels),
        features.FORMAT_KEY: _bytes_feature(info.format.encode("ascii")),
        features.SHA256_KEY: _bytes_feature(info.sha256.encode("ascii")),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


_INT_RE = re.compile(r"^-?\d+$")


def label_vocabulary(names: Iterable[str], fixed: Sequence[str] | None = None) -> list[str]:
    """Stable label order: `fixed` as given, else sorted distinct names.

    Names that are all integers sort numerically ("2" before "10"), so integer
    labels keep their ids when they run 0..n-1.
    """
    if fixed:
        fixed = list(fixed)
        if len(set(fixed)) != len(fixed) or not all(fixed):
            raise ValueError(f"labels must be distinct non-empty names, got {fixed}")
        return fixed
    distinct = {n for n in names if n}
    if distinct and all(_INT_RE.match(n) for n in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def write_label_vocab(vocab: Sequence[str], path: str) -> None:
    """One name per line; line index == label id."""
    for name in vocab:
        if "\n" in name or "\r" in name:
            raise ValueError(f"label name {name!r} contains a line break")
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(name + "\n" for name in vocab))


def read_label_vocab(path: str) -> list[str]:
    """Inverse of write_label_vocab."""
    with tf.io.gfile.GFile(path) as f:
        return [line.rstrip("\n") for line in f if line.rstrip("\n")]
