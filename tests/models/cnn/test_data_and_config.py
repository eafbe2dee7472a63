"""Input pipeline over materialised examples, label vocabulary and trainer config."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models.cnn import augment, data, testing, training_data
from models.cnn.config import TrainerConfig
from models.cnn.preprocessing import IMAGE_XF_KEY, decode_pixels

pytestmark = pytest.mark.slow  # runs Transform with Beam: not in `make check`


def _train_pattern(examples_uri: str) -> list[str]:
    return [os.path.join(examples_uri, "Split-train", "*")]


def test_label_vocab_is_found_at_examples_root_from_split_pattern(examples_uri):
    path = data.find_label_vocab(_train_pattern(examples_uri))

    assert path == os.path.join(examples_uri, "label_vocab.txt")
    assert data.read_label_vocab(path) == ["red", "green", "blue"]


def test_missing_label_vocab_names_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="label_vocab.txt not found; looked at"):
        data.find_label_vocab([str(tmp_path / "Split-train" / "*")])


def test_label_vocab_with_blank_line_in_the_middle_is_rejected(tmp_path):
    path = tmp_path / "label_vocab.txt"
    path.write_text("cat\n\ndog\n")

    with pytest.raises(ValueError, match="non-empty class names"):
        data.read_label_vocab(str(path))


def test_no_matching_files_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TFRecord files match"):
        data.list_files([str(tmp_path / "Split-train" / "*")])


def test_label_vocab_is_found_beside_the_transformed_splits(transformed_uri):
    path = data.find_label_vocab(_train_pattern(transformed_uri))

    assert path == os.path.join(transformed_uri, "label_vocab.txt")
    assert data.read_label_vocab(path) == list(testing.COLOUR_CLASSES)


def test_training_dataset_yields_transformed_batches_covering_every_example(
    transformed_uri, transform_dir
):
    tf_transform_output = tft.TFTransformOutput(transform_dir)
    ds = data.training_dataset(
        _train_pattern(transformed_uri), tf_transform_output, (16, 16, 3), batch_size=8, seed=0
    )

    batches = list(ds)
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])

    assert batches[0][0].shape == (8, 16, 16, 3)
    assert images.shape == (45, 16, 16, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert np.bincount(labels).tolist() == [15, 15, 15]
    # Colour classes: the dominant channel of each image is its label.
    assert (images.mean(axis=(1, 2)).argmax(axis=1) == labels).all()


def test_no_trainer_dataset_runs_the_autotune_thread(transformed_uri, transform_dir):
    """With tf.data's autotune thread, destroying an iterator waits out the thread's
    re-optimization period: `Model.fit` returned 4-17 s after its last epoch
    (bench/data_teardown.py). Options set on a source reach every dataset built on it."""
    out = tft.TFTransformOutput(transform_dir)
    pattern, shape = _train_pattern(transformed_uri), (16, 16, 3)
    training = data.training_dataset(pattern, out, shape, batch_size=8, repeat=True, seed=0)
    datasets = {
        "training": training,
        "eval": data.training_dataset(pattern, out, shape, batch_size=8, shuffle=False),
        "augmented": augment.augment_dataset(training, augment.build_augmenter(16, seed=0)),
        "error analysis": data.pixel_dataset(pattern, out, shape),
        "sanity sample": data.records_dataset(data.sample_records(pattern, 4, 0), out, shape),
    }

    for name, ds in datasets.items():
        assert ds.options().autotune.enabled is False, name
    assert next(iter(datasets["augmented"]))[0].shape == (8, 16, 16, 3)
    # The default, for contrast: a dataset built elsewhere keeps the thread.
    assert tf.data.Dataset.range(3).options().autotune.enabled is not False


def test_image_shape_comes_from_the_materialised_pixels_and_must_match_config(
    transformed_uri, transform_dir
):
    tf_transform_output = tft.TFTransformOutput(transform_dir)
    files = _train_pattern(transformed_uri)

    assert training_data.image_shape(files, tf_transform_output, None) == (16, 16, 3)
    with pytest.raises(ValueError, match="image_size=32 but the transform graph outputs"):
        training_data.image_shape(files, tf_transform_output, 32)


def test_materialised_pixels_are_exactly_what_the_transform_graph_computes_from_raw(
    examples_uri, transformed_uri, transform_dir
):
    tf_transform_output = tft.TFTransformOutput(transform_dir)
    shape = (16, 16, 3)
    stored = list(data.pixel_dataset(_train_pattern(transformed_uri), tf_transform_output, shape))
    records = tf.data.TFRecordDataset(
        data.list_files(_train_pattern(examples_uri)), compression_type="GZIP"
    )
    raw = tf.io.parse_example(tf.stack(list(records)), tf_transform_output.raw_feature_spec())
    encoded = tf_transform_output.transform_features_layer()(raw)[IMAGE_XF_KEY]
    from_raw = decode_pixels(encoded, shape).numpy()

    assert len(stored) == len(from_raw) == 45
    assert stored[0][0].dtype == tf.uint8
    np.testing.assert_array_equal(np.stack([p.numpy() for p, _ in stored]), from_raw)
    assert data.read_labels(_train_pattern(transformed_uri)).tolist() == [
        int(label) for _, label in stored
    ]


def test_training_split_that_is_not_materialised_names_what_was_expected(
    examples_uri, transform_dir
):
    with pytest.raises(ValueError, match="not Transform's materialised examples"):
        data.image_shape(_train_pattern(examples_uri), tft.TFTransformOutput(transform_dir))


def test_trainer_config_defaults_and_unknown_keys():
    config = TrainerConfig.from_custom_config({"epochs": 3, "filters": [8, 16]})

    assert config.epochs == 3 and config.filters == (8, 16)
    assert TrainerConfig.from_custom_config(None) == TrainerConfig()
    with pytest.raises(ValueError, match=r"unknown keys \['epoch'\]"):
        TrainerConfig.from_custom_config({"epoch": 3})
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainerConfig.from_custom_config({"optimizer": "adagrad"})


@pytest.mark.parametrize(
    "examples, epochs, train_steps, expected",
    [
        (128, 20, None, (30, True)),  # 4 batches a pass < 600 / 20: the split repeats
        (4000, 20, None, (125, False)),  # one pass is more than enough
        (128, 20, 100, (5, True)),  # TrainArgs' num_steps spread over the epochs
    ],
)
def test_an_epoch_makes_enough_steps_for_batchnorm_on_a_small_split(
    examples, epochs, train_steps, expected
):
    config = TrainerConfig(epochs=epochs, batch_size=32, min_steps=600)
    assert training_data.epoch_steps(train_steps, examples, config) == expected
