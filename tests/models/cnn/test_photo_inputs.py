"""Photo-sized inputs: EXIF orientation in the graph, scaled JPEG decoding, centre crop."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from models.cnn import exif
from models.cnn.preprocessing import decode_to_pixels, resize_and_center_crop, to_unit_range
from vrl import demo_photos


@pytest.fixture(scope="module")
def upright() -> Image.Image:
    """A non-square crop of a real photo (so rotations change the shape)."""
    return Image.fromarray(demo_photos.load_photo("cat")[40:136, 100:244])


def _pil_upright(data: bytes) -> np.ndarray:
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_graph_reads_each_exif_orientation_and_turns_the_image_upright_like_pil(
    upright, orientation
):
    data = demo_photos.exif_jpeg(upright, orientation, quality=95)
    assert int(exif.orientation(tf.constant(data))) == orientation
    decoded = tf.io.decode_jpeg(data, channels=3)
    ours = exif.apply_orientation(decoded, exif.orientation(tf.constant(data))).numpy()
    theirs = _pil_upright(data)
    assert ours.shape == theirs.shape == (96, 144, 3)
    # Different JPEG decoders (chroma upsampling) differ by ~1; a wrong turn by ~30.
    assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 3.0
    # And the stored file really is upright only after the tag is applied.
    assert np.abs(ours.astype(int) - np.asarray(upright).astype(int)).mean() < 6.0


def test_big_endian_exif_orientation_is_read(upright):
    # "MM" byte order: IFD0 with one entry, Orientation = 6.
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01"
    tiff += b"\x00\x06\x00\x00" + b"\x00\x00\x00\x00"
    buf = io.BytesIO()
    upright.save(buf, format="JPEG", exif=b"Exif\x00\x00" + tiff)
    assert int(exif.orientation(tf.constant(buf.getvalue()))) == 6
    assert ImageOps.exif_transpose(Image.open(buf)).size == (96, 144)


def test_files_without_exif_orientation_read_as_upright(upright):
    png, jpeg = io.BytesIO(), io.BytesIO()
    upright.save(png, format="PNG")
    upright.save(jpeg, format="JPEG")
    for data in (png.getvalue(), jpeg.getvalue(), b"", b"\xff\xd8"):
        assert int(exif.orientation(tf.constant(data))) == 1


def test_transform_of_exif_rotated_copy_equals_transform_of_upright_file(upright):
    plain = demo_photos.exif_jpeg(upright, 1, quality=95)
    rotated = demo_photos.exif_jpeg(upright, 6, quality=95)
    out = to_unit_range(decode_to_pixels(tf.constant([plain, rotated]), 32)).numpy()
    assert np.abs(out[0] - out[1]).mean() < 0.02


def test_large_jpeg_decoded_at_reduced_scale_matches_full_decode_closely():
    photo = Image.fromarray(demo_photos.load_photo("china")).resize((1280, 854))
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=92)
    scaled = to_unit_range(decode_to_pixels(tf.constant([buf.getvalue()]), 64)).numpy()[0]
    full = tf.io.decode_jpeg(buf.getvalue(), channels=3)
    reference = (resize_and_center_crop(full, 64) / 255.0).numpy()
    assert np.abs(scaled - reference).mean() < 0.02


def test_center_crop_keeps_aspect_ratio_and_takes_the_middle():
    # Left third red, middle third green, right third blue, 30 x 90.
    image = np.zeros([30, 90, 3], np.uint8)
    image[:, :30, 0] = image[:, 30:60, 1] = image[:, 60:, 2] = 255
    out = resize_and_center_crop(tf.constant(image), 10).numpy()
    assert out.shape == (10, 10, 3)
    # Only the green middle third, bar the antialiasing filter's reach at the edges.
    np.testing.assert_allclose(out[:, 1:-1, 1], 255.0, atol=1e-2)
    assert out[:, 1:-1, 0].max() < 1e-2 and out[:, 1:-1, 2].max() < 1e-2


def test_make_photos_writes_classes_imbalance_and_exif_tagged_files(tmp_path):
    summary = demo_photos.make_photos(
        str(tmp_path / "photos"), classes=("china", "cat"), per_class=8, imbalance=2.0
    )
    assert summary["counts"] == {"china": 8, "cat": 4}
    assert summary["exif_tagged"] == 2 + 1
    # The default 40 per class at --imbalance 3: 40, 28, 20, 14 (40/14 <= 3, the
    # pipeline's default max_class_imbalance; rounding to nearest gave 13).
    counts = [demo_photos.class_count(40, 3.0, i, 4) for i in range(4)]
    assert counts == [40, 28, 20, 14] and max(counts) / min(counts) <= 3.0
    tagged = tmp_path / "photos" / "china" / "china_0003.jpg"
    assert Image.open(tagged).getexif()[demo_photos.EXIF_ORIENTATION_TAG] == 2
