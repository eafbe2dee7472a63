"""TFLite export: the gate's arithmetic, and a converted network answering on the eval split."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models.cnn import data, error_analysis, eval_split, export, model, testing, tflite_export


def test_compare_measures_both_accuracies_on_the_same_examples():
    labels = np.array([0, 1, 1, 0])
    saved = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.6, 0.4]])  # 4/4 right
    lite = np.array([[0.9, 0.1], [0.2, 0.8], [0.55, 0.45], [0.6, 0.4]])  # 3/4 right
    report = tflite_export.compare(labels, saved, lite)
    assert report["saved_model_accuracy"] == 1.0 and report["tflite_accuracy"] == 0.75
    assert report["accuracy_drop"] == pytest.approx(0.25)
    assert report["same_prediction"] == 0.75
    assert report["max_probability_difference"] == pytest.approx(0.15)


def test_gate_passes_a_drop_up_to_the_maximum_and_names_the_flag_beyond_it():
    report = {"accuracy_drop": 0.02, "tflite_accuracy": 0.9, "saved_model_accuracy": 0.92}
    assert tflite_export.gate_reason(report, max_drop=0.02) is None
    assert tflite_export.gate_reason({**report, "accuracy_drop": -0.01}, max_drop=0.0) is None
    reason = tflite_export.gate_reason(report, max_drop=0.01)
    assert "0.0200 below" in reason and "--tflite-max-drop" in reason


def test_gate_refuses_a_constant_model_even_when_both_copies_agree():
    labels = np.array([0, 1, 2, 0])
    constant = np.tile([0.2, 0.7, 0.1], (4, 1))
    report = tflite_export.compare(labels, constant, constant)
    assert report["accuracy_drop"] == 0.0 and report["same_prediction"] == 1.0
    reason = tflite_export.gate_reason(report, max_drop=0.02)
    assert "predicts one class for all 4 eval examples of 3 classes" in reason


def test_convert_rejects_an_unknown_quantization():
    net = model.build_model((16, 16, 3), 3, filters=(4,))
    with pytest.raises(ValueError, match="float16"):
        tflite_export.convert(net, "int4")


@pytest.mark.slow
def test_tflite_model_answers_on_the_eval_split_like_the_saved_model(
    tmp_path, transformed_uri, transform_dir
):
    tf.keras.utils.set_random_seed(0)
    tft_output = tft.TFTransformOutput(transform_dir)
    net = model.build_model((16, 16, 3), 3, filters=(4, 8), dropout=0.0)
    # Trained a little: an untrained network answers one class, which the gate refuses.
    train = data.training_dataset(
        [os.path.join(transformed_uri, "Split-train", "*")], tft_output, (16, 16, 3), 15
    )
    model.compile_model(net, learning_rate=1e-2, schedule="constant").fit(
        train, epochs=40, verbose=0
    )
    serving_dir = str(tmp_path / "serving")
    eval_files = [os.path.join(transformed_uri, "Split-eval", "*")]
    content = export.export_model(
        net, tft_output, testing.COLOUR_CLASSES, serving_dir, eval_files, "dynamic"
    )

    result = eval_split.analyze_export(
        net,
        eval_files,
        tft_output,
        serving_dir,
        str(tmp_path / "run"),
        list(testing.COLOUR_CLASSES),
        top_k=(2,),
        tflite_content=content,
        tflite_quantization="dynamic",
    )

    folder = os.path.join(serving_dir, tflite_export.TFLITE_DIR)
    report = json.load(open(os.path.join(folder, tflite_export.REPORT_FILE)))
    assert report == json.loads(json.dumps(result["tflite"]))
    assert report["examples"] == 15 and report["quantization"] == "dynamic"
    assert tflite_export.gate_reason(report, max_drop=0.02) is None
    assert report["same_prediction"] >= 14 / 15
    labels = open(os.path.join(folder, tflite_export.LABELS_FILE)).read().split()
    assert labels == list(testing.COLOUR_CLASSES)
    # The file is a model tf.lite.Interpreter runs on its own: input image_xf [N, 16, 16, 3].
    interpreter = tf.lite.Interpreter(model_path=os.path.join(folder, tflite_export.MODEL_FILE))
    (inp,) = interpreter.get_input_details()
    assert list(inp["shape_signature"]) == [-1, 16, 16, 3] and inp["dtype"] == np.float32
    assert report["tflite_bytes"] == os.path.getsize(os.path.join(folder, "model.tflite"))
    # The SavedModel still loads and serves with the tflite/ folder inside it.
    assert "serving_default" in tf.saved_model.load(serving_dir).signatures
    analysis = json.load(
        open(tmp_path / "run" / error_analysis.OUTPUT_DIR / error_analysis.REPORT_JSON)
    )
    assert analysis["examples"] == 15 and sum(map(sum, analysis["confusion_matrix"])) == 15
    assert analysis["accuracy"] == pytest.approx(report["saved_model_accuracy"])
