"""GatedEvaluator's own steps: per-class metrics sized to the data, and the TFLite gate
withdrawing TFMA's blessing."""

import json

import pytest
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
    assert _names(per_class) == ["Precision", "Recall"]
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
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(tmp_path / "evaluation"), str(tmp_path / "blessing")
    props = {
        standard_component_specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(
            create_eval_config(0.9, 0.01)
        ),
        executor.MIN_ACCURACY_KEY: 0.5,
        executor.MAX_ACCURACY_DROP_KEY: 0.05,
        executor.TFLITE_MAX_DROP_KEY: tflite_max_drop,
    }
    executor.Executor().Do(
        {"examples": [], "model": [model]},
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
