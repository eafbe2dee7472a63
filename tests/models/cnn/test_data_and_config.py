"""Input pipeline over raw TFRecords + transform graph, label vocabulary and trainer config."""

import os

import numpy as np
import pytest
import tensorflow_transform as tft

from models.cnn import data, trainer
from models.cnn.config import TrainerConfig


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


def test_training_dataset_yields_transformed_batches_covering_every_example(
    examples_uri, transform_dir
):
    tf_transform_output = tft.TFTransformOutput(transform_dir)
    ds = data.training_dataset(
        _train_pattern(examples_uri), tf_transform_output, batch_size=8, seed=0
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


def test_image_shape_comes_from_transform_graph_and_must_match_config(transform_dir):
    tf_transform_output = tft.TFTransformOutput(transform_dir)

    assert trainer.image_shape(tf_transform_output, None) == (16, 16, 3)
    with pytest.raises(ValueError, match="image_size=32 but the transform graph outputs"):
        trainer.image_shape(tf_transform_output, 32)


def test_trainer_config_defaults_and_unknown_keys():
    config = TrainerConfig.from_custom_config({"epochs": 3, "filters": [8, 16]})

    assert config.epochs == 3 and config.filters == (8, 16)
    assert TrainerConfig.from_custom_config(None) == TrainerConfig()
    with pytest.raises(ValueError, match=r"unknown keys \['epoch'\]"):
        TrainerConfig.from_custom_config({"epoch": 3})
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainerConfig.from_custom_config({"optimizer": "adagrad"})
