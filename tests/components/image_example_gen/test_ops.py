"""Decode checks, tf.Example building and the label vocabulary (no TFX, no Beam)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.image_example_gen import ops
from contracts import features


def test_bad_input_is_rejected_with_its_reason(imaging, bad_case):
    data, reason, _ = imaging.cases[bad_case]
    with pytest.raises(ops.ImageRejected) as err:
        ops.check_image(data)
    assert err.value.reason == reason
    assert err.value.detail


def test_accepted_image_reports_what_tensorflow_decodes(imaging, good_case):
    data, _, channels = imaging.cases[good_case]
    info = ops.check_image(data)
    decoded = tf.io.decode_image(data, channels=0, expand_animations=False)
    assert (info.height, info.width, info.channels) == tuple(decoded.shape)
    assert info.channels == channels
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    # Every accepted image also decodes to RGB, which is what Transform asks for.
    assert tf.io.decode_image(data, channels=3, expand_animations=False).shape[-1] == 3


def test_formats_are_named_by_content(imaging):
    assert ops.check_image(imaging.cases["rgb.jpg"][0]).format == "jpeg"
    assert ops.check_image(imaging.cases["rgb.bmp"][0]).format == "bmp"
    assert ops.check_image(imaging.cases["still.gif"][0]).format == "gif"
    assert ops.check_image(imaging.cases["rgb.png"][0]).format == "png"


def test_16_bit_png_decodes_to_the_high_byte(imaging):
    decoded = tf.io.decode_image(imaging.png16(), channels=1).numpy()[..., 0]
    expected = (np.arange(20 * 30).reshape(20, 30) * 100).astype(np.uint16) >> 8
    np.testing.assert_array_equal(decoded, expected)


def test_cmyk_jpeg_decodes_close_to_its_rgb_rendering(imaging):
    data = imaging.cases["cmyk.jpg"][0]
    reference = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    decoded = tf.io.decode_image(data, channels=3).numpy().astype(int)
    assert np.abs(decoded - reference).max() <= 4


def test_limits_are_configurable(imaging):
    data = imaging.encode(imaging.rgb(0, h=20, w=30), "PNG")
    with pytest.raises(ops.ImageRejected, match="max_side=25"):
        ops.check_image(data, ops.ImageLimits(min_side=8, max_side=25))
    with pytest.raises(ops.ImageRejected, match="max_pixels=500"):
        ops.check_image(data, ops.ImageLimits(min_side=8, max_side=100, max_pixels=500))
    assert ops.check_image(data, ops.ImageLimits(min_side=20)).width == 30
    with pytest.raises(ValueError, match="min_side"):
        ops.ImageLimits(min_side=10, max_side=5)


def test_truncated_jpeg_detail_says_truncated(imaging):
    with pytest.raises(ops.ImageRejected, match="truncated"):
        ops.check_image(imaging.good_jpeg[:-200])


def test_build_example_has_exactly_the_raw_feature_keys(imaging):
    data = imaging.cases["gray.png"][0]
    info = ops.check_image(data)
    example = ops.build_example(data, info, label=3, label_name="cat")
    fmap = example.features.feature
    assert sorted(fmap) == sorted(features.RAW_FEATURE_KEYS)
    assert fmap[features.IMAGE_KEY].bytes_list.value == [data]
    assert fmap[features.LABEL_KEY].int64_list.value == [3]
    assert fmap[features.LABEL_NAME_KEY].bytes_list.value == [b"cat"]
    assert fmap[features.HEIGHT_KEY].int64_list.value == [20]
    assert fmap[features.WIDTH_KEY].int64_list.value == [30]
    assert fmap[features.CHANNELS_KEY].int64_list.value == [1]
    assert fmap[features.FORMAT_KEY].bytes_list.value == [b"png"]
    assert fmap[features.SHA256_KEY].bytes_list.value == [hashlib.sha256(data).hexdigest().encode()]


def test_vocabulary_is_sorted_and_numeric_names_sort_numerically():
    assert ops.label_vocabulary(["dog", "cat", "dog", "ant"]) == ["ant", "cat", "dog"]
    assert ops.label_vocabulary([str(i) for i in (10, 2, 0, 1)]) == ["0", "1", "2", "10"]
    assert ops.label_vocabulary(["10", "b", "2"]) == ["10", "2", "b"]


def test_fixed_labels_keep_their_order_and_must_be_distinct():
    assert ops.label_vocabulary(["a", "z"], fixed=["z", "a", "m"]) == ["z", "a", "m"]
    with pytest.raises(ValueError, match="distinct"):
        ops.label_vocabulary([], fixed=["a", "a"])


def test_label_vocab_file_round_trips(tmp_path):
    path = str(tmp_path / features.LABEL_VOCAB_FILENAME)
    ops.write_label_vocab(["circle", "square", "star"], path)
    assert (tmp_path / features.LABEL_VOCAB_FILENAME).read_text() == "circle\nsquare\nstar\n"
    assert ops.read_label_vocab(path) == ["circle", "square", "star"]
    with pytest.raises(ValueError, match="line break"):
        ops.write_label_vocab(["a\nb"], path)


def _outcome(result):
    if isinstance(result, ops.ImageRejected):
        return (result.reason, result.detail)
    return result


def test_a_batch_checks_each_image_as_it_is_checked_alone(imaging):
    def alone(data):
        try:
            return ops.check_image(data)
        except ops.ImageRejected as e:
            return e

    every = [imaging.cases[name][0] for name in sorted(imaging.cases)]
    good = [data for data in every if not isinstance(alone(data), ops.ImageRejected)]
    assert 0 < len(good) < len(every)
    for batch in (every, good):  # with rejections, and the one-call path of good ones
        got = [_outcome(r) for r in ops.check_images(batch)]
        assert got == [_outcome(alone(data)) for data in batch]
