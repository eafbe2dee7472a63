"""The one-class gate: a candidate whose eval predictions are all one class is not blessed,
even under thresholds it meets (--min-accuracy 0). Real TFMA (TFX's Evaluator executor)
on a real export."""

import json
import os

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
import tensorflow_transform as tft
from tfx.components.evaluator import constants
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import path_utils, proto_utils

from components.gated_evaluator import executor, ops
from models.cnn import model, signatures, testing
from pipeline.image_pipeline import create_eval_config

SIZE = 8


def test_class_gate_refuses_one_predicted_class_and_passes_several():
    names = ["cat", "dog", "fox"]
    verdict = ops.class_gate({1: 12.0, 0: 0.0}, names)
    assert not verdict["passed"] and verdict["predicted_classes"] == ["dog"]
    assert "predicts 'dog' for all 12 eval examples of 3 classes" in verdict["reason"]
    assert ops.class_gate({0: 5.0, 2: 7.0}, names)["passed"]
    assert ops.class_gate(None, names) is None  # no confusion matrix: the gate does not apply


def _constant_export(serving_dir: str, transform_dir: str, answer: int) -> None:
    """A convnet whose logits ignore the image (zero kernel) and favour class `answer`."""
    net = model.build_model((SIZE, SIZE, 3), len(testing.COLOUR_CLASSES), filters=(4,))
    logits = net.get_layer("logits")
    bias = np.zeros(len(testing.COLOUR_CLASSES), np.float32)
    bias[answer] = 5.0
    logits.set_weights([np.zeros_like(logits.get_weights()[0]), bias])
    output = tft.TFTransformOutput(transform_dir)
    signatures.export_serving_model(net, output, testing.COLOUR_CLASSES, serving_dir)


@pytest.mark.slow
def test_a_one_class_model_meeting_its_thresholds_is_not_blessed(tmp_path):
    items = testing.colour_images(24, seed=3)
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    testing.write_examples_artifact(
        examples.uri, {"train": items[:12], "eval": items[12:]}, testing.COLOUR_CLASSES
    )
    transform_dir = testing.build_transform_graph(
        examples.uri, str(tmp_path / "transform"), image_size=SIZE
    )
    candidate = standard_artifacts.Model()
    candidate.uri = str(tmp_path / "model")
    _constant_export(path_utils.serving_model_dir(candidate.uri), transform_dir, answer=1)
    nothing_served = standard_artifacts.Model()
    nothing_served.uri = str(tmp_path / "baseline")
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(tmp_path / "evaluation"), str(tmp_path / "blessing")
    props = {
        standard_component_specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(
            # The thresholds hold on every class's slice too, so only a bound of 0
            # lets TFMA bless a model that never answers two of the three classes.
            create_eval_config(0.0, 1.0)
        ),
        standard_component_specs.EXAMPLE_SPLITS_KEY: json.dumps(["eval"]),
        executor.MIN_ACCURACY_KEY: 0.0,
        executor.MAX_ACCURACY_DROP_KEY: 1.0,
        executor.TFLITE_MAX_DROP_KEY: 0.02,
    }

    executor.Executor().Do(
        {
            standard_component_specs.EXAMPLES_KEY: [examples],
            standard_component_specs.MODEL_KEY: [candidate],
            standard_component_specs.BASELINE_MODEL_KEY: [nothing_served],
        },
        {
            standard_component_specs.EVALUATION_KEY: [evaluation],
            standard_component_specs.BLESSING_KEY: [blessing],
        },
        props,
    )

    validation = tfma.load_validation_result(evaluation.uri)
    assert validation.validation_ok, validation  # TFMA alone would bless it
    verdict = ops.read_gate(evaluation.uri, ops.CLASS_GATE_FILE)
    assert verdict["predicted_classes"] == ["green"] and verdict["examples"] == 12
    assert not verdict["passed"]
    assert blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 0
    assert os.path.exists(os.path.join(blessing.uri, constants.NOT_BLESSED_FILE_NAME))
    assert not os.path.exists(os.path.join(blessing.uri, constants.BLESSED_FILE_NAME))
    message = blessing.get_string_custom_property(constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY)
    assert "one-class model is never blessed" in message
