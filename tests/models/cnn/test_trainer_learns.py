"""The training path as a user runs it learns: real photo crops (`vrl data photos`),
the trainer's defaults (epochs, min_steps, early stopping) with its sanity checks on.

Each configuration must predict more than one class on the held-out split and
score well above chance there; a backbone trained from scratch included (its
BatchNorm once ran in inference mode and the model answered one class).
"""

from __future__ import annotations

import json
import math
import os

import pytest
from tfx.components.trainer.fn_args_utils import FnArgs

from contracts import files
from models.cnn import error_analysis, testing, trainer
from models.cnn.config import TrainerConfig
from vrl import demo_photos

pytestmark = pytest.mark.slow

CLASSES = ("china", "flower", "cat")
SIZE = 32  # the pipeline's default image_size and the backbones' smallest


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, str]:
    """60 JPEG crops of three photos (a quarter EXIF-rotated), hash-split, transformed."""
    root = tmp_path_factory.mktemp("photos")
    made = demo_photos.make_photos(
        str(root / "data"), classes=CLASSES, per_class=20, sizes=(48, 64, 96)
    )
    items, names = testing.read_class_folders(made["path"])
    examples, graph, out = (str(root / d) for d in ("examples", "graph", "transformed"))
    testing.write_examples_artifact(examples, testing.hash_split(items, 0.25), names)
    testing.build_transform_graph(examples, graph, image_size=SIZE)
    testing.materialize_examples(examples, graph, out)
    return {"transformed": out, "graph": graph}


# The default convnet on the same photos is the photo end-to-end test's run
# (tests/e2e/test_photos_e2e.py: the whole pipeline, the same defaults and checks).
@pytest.mark.parametrize(
    "custom_config",
    [{"arch": "mobilenet_v3_small", "weights": "none"}],
    ids=["mobilenet_v3_small_from_scratch"],
)
def test_defaults_with_sanity_checks_learn_several_classes_above_chance(
    tmp_path, photos, custom_config
):
    fn_args = FnArgs(
        train_files=[os.path.join(photos["transformed"], "Split-train", "*")],
        eval_files=[os.path.join(photos["transformed"], "Split-eval", "*")],
        transform_output=photos["graph"],
        serving_model_dir=str(tmp_path / "serving_model_dir"),
        model_run_dir=str(tmp_path / "model_run_dir"),
        train_steps=None,
        eval_steps=None,
        # batch 16 halves the cost of the default 32; every other setting is the default.
        custom_config={"image_size": SIZE, "batch_size": 16, **custom_config},
    )

    trainer.run_fn(fn_args)

    with open(os.path.join(fn_args.model_run_dir, files.TRAINING_REPORT_FILE)) as f:
        summary = json.load(f)["summary"]
    analysis_dir = os.path.join(fn_args.model_run_dir, error_analysis.OUTPUT_DIR)
    with open(os.path.join(analysis_dir, error_analysis.REPORT_JSON)) as f:
        held_out = json.load(f)
    predicted = [sum(column) for column in zip(*held_out["confusion_matrix"], strict=True)]
    assert summary["config"]["sanity_checks"] and summary["sanity"]["predicted_classes"] >= 2
    # The split is 2 batches; the defaults spread min_steps over the epochs instead.
    defaults = TrainerConfig()
    assert summary["steps_per_epoch"] == math.ceil(defaults.min_steps / defaults.epochs) > 2
    assert sum(1 for n in predicted if n) >= 2, held_out["confusion_matrix"]
    assert held_out["examples"] >= 9 and held_out["accuracy"] >= 0.7  # chance: about 1/3
