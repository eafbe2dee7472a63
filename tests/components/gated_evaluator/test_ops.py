"""GatedEvaluator's own steps: per-class metrics sized to the data, and the TFLite gate
withdrawing TFMA's blessing."""

import json
import os

import pytest
import tensorflow as tf
from tensorflow_model_analysis.proto import validation_result_pb2
from tfx.components.evaluator import constants
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import path_utils, proto_utils

from components.gated_evaluator import executor, ops
from models.cnn import tflite_export
from pipeline.image_pipeline import create_eval_config


def _names(spec):
    return [m.class_name for m in spec.metrics]


def test_per_class_specs_get_one_class_id_per_class_and_unusable_top_k_go():
    config = ops.size_to_classes(create_eval_config(0.9, 0.01, top_k=(2, 5)), 3)
    overall, per_class = config.metrics_specs
    assert list(per_class.binarize.class_ids.values) == [0, 1, 2]
    assert _names(per_class) == ["ClassPrecision", "ClassRecall"]
    assert [ops.top_k_of(m) for m in overall.metrics if ops.top_k_of(m)] == [2]  # 5 >= 3 classes
    assert "MultiClassConfusionMatrixPlot" in _names(overall)


def test_count_classes_reads_the_label_vocabulary_and_says_where_it_looked(tmp_path):
    (tmp_path / "label_vocab.txt").write_text("cat\ndog\nfox\n")
    assert ops.count_classes(str(tmp_path)) == 3
    with pytest.raises(FileNotFoundError, match="label vocabulary"):
        ops.count_classes(str(tmp_path / "missing"))


def _model_with_tflite_report(tmp_path, drop):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    serving = path_utils.serving_model_dir(model.uri)
    (tmp_path / "model").mkdir()
    folder = tmp_path / "model" / serving[len(model.uri) + 1 :] / tflite_export.TFLITE_DIR
    folder.mkdir(parents=True)
    report = {
        "quantization": "dynamic",
        "saved_model_accuracy": 0.9,
        "tflite_accuracy": 0.9 - drop,
        "accuracy_drop": drop,
    }
    (folder / tflite_export.REPORT_FILE).write_text(json.dumps(report))
    return model


def _run_executor(monkeypatch, tmp_path, model, tflite_max_drop):
    def blessing_tfx_would_write(self, input_dict, output_dict, exec_properties):
        blessing = output_dict[standard_component_specs.BLESSING_KEY][0]
        (tmp_path / "blessing" / constants.BLESSED_FILE_NAME).write_text("")
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, 1)

    monkeypatch.setattr(executor.tfx_evaluator.Executor, "Do", blessing_tfx_would_write)
    return _run_gated_evaluator(tmp_path, [model], 0.5, 0.05, tflite_max_drop)


def _run_gated_evaluator(tmp_path, models, min_accuracy, max_drop, tflite_max_drop):
    """The executor's Do on no examples and `models`; returns (evaluation, blessing)."""
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(tmp_path / "evaluation"), str(tmp_path / "blessing")
    props = {
        standard_component_specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(
            create_eval_config(min_accuracy, max_drop)
        ),
        executor.MIN_ACCURACY_KEY: min_accuracy,
        executor.MAX_ACCURACY_DROP_KEY: max_drop,
        executor.TFLITE_MAX_DROP_KEY: tflite_max_drop,
    }
    executor.Executor().Do(
        {"examples": [], "model": models},
        {"evaluation": [evaluation], "blessing": [blessing]},
        props,
    )
    return evaluation, blessing


def test_a_tflite_drop_beyond_the_maximum_withdraws_the_blessing_with_the_reason(
    monkeypatch, tmp_path
):
    model = _model_with_tflite_report(tmp_path, drop=0.05)
    evaluation, blessing = _run_executor(monkeypatch, tmp_path, model, tflite_max_drop=0.02)
    assert blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 0
    assert (tmp_path / "blessing" / constants.NOT_BLESSED_FILE_NAME).exists()
    assert not (tmp_path / "blessing" / constants.BLESSED_FILE_NAME).exists()
    verdict = ops.read_gate(evaluation.uri)
    assert verdict["passed"] is False and "0.0500 below" in verdict["reason"]
    message = blessing.get_string_custom_property(constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY)
    assert message == verdict["reason"]


def test_a_tflite_drop_within_the_maximum_keeps_the_blessing(monkeypatch, tmp_path):
    model = _model_with_tflite_report(tmp_path, drop=0.01)
    evaluation, blessing = _run_executor(monkeypatch, tmp_path, model, tflite_max_drop=0.02)
    assert blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 1
    assert ops.read_gate(evaluation.uri)["passed"] is True


def _failure(name, value, is_diff, bound, column=None, label=None):
    """One slice's failed threshold as TFMA writes it in its ValidationResult."""
    per_slice = validation_result_pb2.MetricsValidationForSlice()
    if column:
        per_slice.slice_key.single_slice_keys.add(column=column, bytes_value=label.encode())
    failure = per_slice.failures.add()
    failure.metric_key.name, failure.metric_key.is_diff = name, is_diff
    failure.metric_value.double_value.value = value
    if is_diff:
        failure.metric_threshold.change_threshold.absolute.value = bound
    else:
        failure.metric_threshold.value_threshold.lower_bound.value = bound
    return per_slice


def test_a_blessing_tfma_refused_says_which_threshold_which_slice_and_by_how_much(
    monkeypatch, tmp_path
):
    """The reason goes where Kubeflow shows it: the blessing's custom properties."""

    def refusal_tfx_would_write(self, input_dict, output_dict, exec_properties):
        evaluation = output_dict[standard_component_specs.EVALUATION_KEY][0]
        blessing = output_dict[standard_component_specs.BLESSING_KEY][0]
        result = validation_result_pb2.ValidationResult(validation_ok=False)
        result.metric_validations_per_slice.extend(
            [
                _failure("sparse_categorical_accuracy", -0.25, True, -0.1, "label_name", "square"),
                _failure("sparse_categorical_accuracy", 0.6, False, 0.75),
            ]
        )
        os.makedirs(evaluation.uri, exist_ok=True)
        with tf.io.TFRecordWriter(os.path.join(evaluation.uri, "validations.tfrecord")) as w:
            w.write(result.SerializeToString())
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, 0)

    monkeypatch.setattr(executor.tfx_evaluator.Executor, "Do", refusal_tfx_would_write)
    _, blessing = _run_gated_evaluator(tmp_path, [], 0.75, 0.1, 0.02)

    message = blessing.get_string_custom_property(constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY)
    assert message == (
        "sparse_categorical_accuracy (value) = 0.6 on overall, needs >= 0.75 (short by 0.15); "
        "sparse_categorical_accuracy (change) = -0.25 on label_name=square, "
        "needs >= -0.1 (short by 0.15)"
    )
