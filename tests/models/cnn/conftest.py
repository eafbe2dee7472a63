"""Shared fixtures: a tiny Examples artifact of three colour classes and its transform graph."""

from __future__ import annotations

import os

import pytest

from models.cnn import runtime, testing

IMAGE_SIZE = 16


@pytest.fixture(scope="session", autouse=True)
def _fast_first_traces() -> None:
    """What run_fn does first; keeps the first Keras trace of each test short."""
    runtime.skip_autograph_for_tf_keras()


@pytest.fixture(scope="session")
def colour_items() -> list[tuple[bytes, int]]:
    """60 encoded images (PNG/JPEG, RGB/RGBA, varied sizes), labels cycling 0, 1, 2."""
    return testing.colour_images(60, seed=0)


@pytest.fixture(scope="session")
def examples_uri(tmp_path_factory, colour_items) -> str:
    """An Examples artifact laid out as ImageExampleGen writes it: 45 train, 15 eval."""
    uri = str(tmp_path_factory.mktemp("examples"))
    testing.write_examples_artifact(
        uri, {"train": colour_items[:45], "eval": colour_items[45:]}, testing.COLOUR_CLASSES
    )
    return uri


@pytest.fixture(scope="session")
def transform_dir(tmp_path_factory, examples_uri) -> str:
    """A real transform graph from tft_beam over the train split (16x16 images)."""
    out = os.path.join(str(tmp_path_factory.mktemp("transform")), "transform_graph")
    return testing.build_transform_graph(examples_uri, out, image_size=IMAGE_SIZE)


@pytest.fixture(scope="session")
def transformed_uri(tmp_path_factory, examples_uri, transform_dir) -> str:
    """Both splits materialised through the transform graph, as the pipeline's Transform does."""
    out = str(tmp_path_factory.mktemp("transformed_examples"))
    return testing.materialize_examples(examples_uri, transform_dir, out)
